import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { baseSettings, busSettings, databaseSettings, setting, type loadConfig } from '@clopen/config';
import { IssuerKeyRing } from './issuers/issuer-key-ring';

export const accessSettings = {
  ...baseSettings,
  ...databaseSettings,
  ...busSettings,
  /**
   * ed25519 issuer keys, `id:base64seed[,…]` (32-byte seeds): the first signs new grants; the
   * others only stay published so hosts keep accepting the grants they signed until those expire.
   */
  ACCESS_ISSUER_KEYS: z.string().transform((spec, ctx) => {
    try {
      return IssuerKeyRing.parse(spec);
    } catch (e) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: (e as Error).message });
      return z.NEVER;
    }
  }),
  /** Longest validity a host may give a signed request (host-auth). */
  HOST_AUTH_MAX_TTL_SECONDS: setting.positiveInt.max(3600).default(300),
  /** How long a host session token (POST /hosts/sessions) is good for: its gateway renews it at half that. */
  ACCESS_HOST_SESSION_SECONDS: setting.positiveInt.max(86_400).default(900),
  /** How often usage is committed: each epoch's receipts get one Merkle root for the chain. */
  ACCESS_EPOCH_SECONDS: setting.positiveInt.default(3600),
  /** Worker threads verifying receipt signatures (0: on the event loop). Default: one per core. */
  ACCESS_VERIFY_THREADS: setting.nonNegativeInt.max(64).default(availableParallelism()),
  /** `access.usage.reported` messages pulled and ingested in one transaction. */
  ACCESS_INGEST_BATCH_MESSAGES: setting.positiveInt.max(1000).default(32),
  /** Pulls of receipts in flight at once (one writes while the next is verified). */
  ACCESS_INGEST_CONCURRENCY: setting.positiveInt.max(16).default(2),
  /** Challenges a prover may take in 24 h: each spends fingerprint keys of a pool. */
  ACCESS_PROVER_CHALLENGES_PER_DAY: setting.positiveInt.default(24),
  /** Decoy queries mixed in per fingerprint key, so a host cannot tell a challenge from traffic. */
  ACCESS_PROVER_DECOYS_PER_KEY: setting.nonNegativeInt.max(20).default(1),
  /** max_tokens of every challenge query: enough for a fingerprint response and the continuation traffic would ask. */
  ACCESS_PROVER_MAX_TOKENS: setting.positiveInt.max(512).default(16),
  /**
   * How far a host's clock may be from access's: a receipt served later than now by more than this
   * is refused, and one served after a revocation or before a licence by less than this is not.
   * Documented in docs/partners.md; a few seconds, as NTP-synchronised hosts keep.
   */
  ACCESS_CLOCK_SKEW_MS: setting.nonNegativeInt.max(60_000).default(5_000),
  /**
   * A host dates its own receipts. After its licence ended or a grant was revoked, a receipt dated
   * before the end still counts only if it reached JetStream (the server's clock) within this long
   * of the end: a host cannot backdate what it serves after a slash into the time it was licensed.
   * Long enough for an honest gateway's spool to drain after a short outage.
   */
  ACCESS_REPORT_GRACE_MS: setting.nonNegativeInt.default(600_000),
  /**
   * Opening blocks: when a grant is issued for at most this many hosts (those it names, or else those
   * licensed for its model), each is handed a block of its quota at once, which its gateway picks up
   * (POST /hosts/quota-leases/handouts) before the first request comes; 0: none.
   */
  ACCESS_QUOTA_HANDOUT_HOSTS: setting.nonNegativeInt.max(1000).default(8),
  /** Requests and tokens of an opening block, at most: never more than a 1/(2 × hosts) share of the quota. */
  ACCESS_QUOTA_HANDOUT_REQUESTS: setting.nonNegativeInt.default(8),
  ACCESS_QUOTA_HANDOUT_TOKENS: setting.nonNegativeInt.default(4096),
  /** Only hosts whose gateway asked for handouts within this long are handed a block (gateways ask every few seconds). */
  ACCESS_QUOTA_HANDOUT_PRESENCE_SECONDS: setting.positiveInt.default(15),
  /** An opening block its host has not picked up within this long (its gateway is down) goes back to the grant. */
  ACCESS_QUOTA_HANDOUT_SECONDS: setting.positiveInt.default(60),
  /** Longest grant a user can buy. */
  ACCESS_GRANT_MAX_DAYS: setting.positiveInt.max(3650).default(365),
};

export type AccessConfig = ReturnType<typeof loadConfig<typeof accessSettings>>;
