import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { In, type EntityManager } from 'typeorm';
import { Outbox } from '@clopen/bus';
import {
  batchBodyHashes,
  batchSigningBytes,
  type RejectionReason,
  Ed25519VerifyPool,
  receiptSigningBytes,
  requestDigestOfHash,
  type SignedMessage,
} from '@clopen/host-sdk';
import { accessV1, create, fromBinary, toBinary } from '@clopen/proto';
import { CONFIG } from '@clopen/service-kit';
import type { AccessConfig } from '../access.settings';
import { Grant } from '../grants/grant.entity';
import { ServingKey } from '../hosts/serving-key.entity';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type Rejection = { grantId: string; counter: bigint; hostAddress: string; reason: RejectionReason; message: string; partner?: string };

/** One `access.usage.reported` message: its envelope id names the batch; `partner` the account it came from. */
export interface ReportedBatch {
  id: string;
  report: accessV1.UsageReported;
  partner?: string;
  /** When JetStream stored the message (ms, the server's clock); defaults to the ingest's `now`. */
  storedAt?: number;
}

/** A licence as access knows it from distribution's events: [grantedAt, endedAt) is when it held. */
interface LicenceSpan {
  grantedAt: number;
  endedAt: number | null;
}

export interface IngestResult {
  counted: number;
  duplicates: number;
  rejected: number;
  /** Rejections by reason. */
  reasons: Partial<Record<RejectionReason, number>>;
}

export const licenceKey = (host: string, modelId: string) => `${host.toLowerCase()}/${modelId}`;

function countBy<K extends string>(keys: readonly K[]): Partial<Record<K, number>> {
  const out: Partial<Record<K, number>> = {};
  for (const k of keys) out[k] = (out[k] ?? 0) + 1;
  return out;
}

interface Decoded {
  batch: ReportedBatch;
  receipt: accessV1.UsageReceipt;
  body: accessV1.ReceiptBody;
  /** Index of the host signature (the batch's or the receipt's own) in the verify list. */
  hostCheck: number;
  userCheck: number;
}

/**
 * Counts usage receipts: every signature checked (the host's over its batch or over each receipt,
 * the user's over each request), each (grant, counter) counted once however often it is reported,
 * every refusal published with its reason. Runs in the consumer's transaction, so a batch of
 * messages counts exactly once; the signatures of a whole pull are verified together on worker
 * threads and the receipts written by one multi-row insert.
 */
@Injectable()
export class UsageService implements OnModuleDestroy {
  private readonly log = new Logger(UsageService.name);
  private readonly pool: Ed25519VerifyPool;

  constructor(
    private readonly outbox: Outbox,
    @Inject(CONFIG) private readonly config: AccessConfig,
  ) {
    this.pool = new Ed25519VerifyPool(config.ACCESS_VERIFY_THREADS);
  }

  async onModuleDestroy() {
    await this.pool.close();
  }

  async ingest(m: EntityManager, batches: readonly ReportedBatch[], now = Date.now()): Promise<IngestResult> {
    const rejections: Rejection[] = [];
    let current: ReportedBatch | undefined;
    const reject = (body: accessV1.ReceiptBody | undefined, reason: RejectionReason, message: string, batch = current) =>
      rejections.push({
        grantId: body?.grantId ?? '',
        counter: body?.counter ?? 0n,
        hostAddress: body?.hostAddress || batch?.report.hostAddress || '',
        reason,
        message,
        ...(batch?.partner ? { partner: batch.partner } : {}),
      });
    const skew = this.config.ACCESS_CLOCK_SKEW_MS;

    // Decode everything first, so grants and keys are read once for the whole pull.
    const decoded: Omit<Decoded, 'hostCheck' | 'userCheck'>[] = [];
    for (const batch of batches) {
      current = batch;
      const signed = batch.report.batchSignature.length > 0;
      for (const receipt of batch.report.receipts) {
        let body: accessV1.ReceiptBody;
        try {
          body = fromBinary(accessV1.ReceiptBodySchema, receipt.body);
        } catch (e) {
          reject(undefined, 'malformed', `receipt does not decode: ${(e as Error).message}`);
          continue;
        }
        if (!body.grantId || !body.hostAddress || body.requestSha256.length !== 32) {
          reject(body, 'malformed', 'grant id, host address and a 32-byte request hash are required');
          continue;
        }
        if (signed && body.hostAddress !== batch.report.hostAddress) {
          reject(
            body,
            'malformed',
            `a batch signed by ${batch.report.hostAddress} holds a receipt of host ${body.hostAddress}; a host signs only its own receipts`,
          );
          continue;
        }
        decoded.push({ batch, receipt, body });
      }
    }
    current = undefined;
    const grantIds = [...new Set(decoded.map((d) => d.body.grantId).filter((id) => UUID.test(id)))];
    const grants = new Map((grantIds.length ? await m.getRepository(Grant).findBy({ id: In(grantIds) }) : []).map((g) => [g.id, g]));
    const hosts = [...new Set([...decoded.map((d) => d.body.hostAddress), ...batches.map((b) => b.report.hostAddress).filter(Boolean)])];
    const keys = new Map(
      (hosts.length ? await m.getRepository(ServingKey).findBy({ hostAddress: In(hosts) }) : []).map((k) => [
        `${k.hostAddress}/${k.keyId}`,
        Buffer.from(k.publicKey, 'base64url'),
      ]),
    );

    // Every signature of the pull in one list, verified together.
    const checks: SignedMessage[] = [];
    const none = -1;
    const batchCheck = new Map<ReportedBatch, number>();
    // Hashed once: the signature check and the evidence kept in usage_batches use the same bytes.
    const bodyHashes = new Map<ReportedBatch, Buffer>();
    for (const batch of batches) {
      const r = batch.report;
      if (!r.batchSignature.length) continue;
      const key = keys.get(`${r.hostAddress}/${r.hostKeyId}`);
      if (!key) continue;
      const bodies = r.receipts.map((x) => x.body);
      bodyHashes.set(batch, batchBodyHashes(bodies));
      batchCheck.set(
        batch,
        checks.push({ signature: r.batchSignature, message: batchSigningBytes(r.hostAddress, bodies, bodyHashes.get(batch)), publicKey: key }) - 1,
      );
    }
    const items: Decoded[] = decoded.map((d) => {
      const signed = d.batch.report.batchSignature.length > 0;
      const hostKey = keys.get(`${d.body.hostAddress}/${signed ? d.batch.report.hostKeyId : d.receipt.hostKeyId}`);
      const hostCheck = signed
        ? (batchCheck.get(d.batch) ?? none)
        : hostKey
          ? checks.push({ signature: d.receipt.hostSignature, message: receiptSigningBytes(d.receipt.body), publicKey: hostKey }) - 1
          : none;
      const grant = grants.get(d.body.grantId);
      const userCheck =
        grant && hostCheck !== none
          ? checks.push({
              signature: d.body.userSignature,
              message: requestDigestOfHash(grant.id, d.body.counter, d.body.hostAddress, d.body.modelId, d.body.requestSha256),
              publicKey: Buffer.from(grant.userPublicKey, 'base64url'),
            }) - 1
          : none;
      return { ...d, hostCheck, userCheck };
    });
    const [valid, licences] = await Promise.all([
      this.pool.verifyMany(checks),
      this.licencesOf(
        m,
        decoded.map((d) => d.body),
      ),
    ]);

    const accepted: { grant: Grant; body: accessV1.ReceiptBody; receipt: accessV1.UsageReceipt; batch: ReportedBatch | null }[] = [];
    for (const { batch, receipt, body, hostCheck, userCheck } of items) {
      current = batch;
      const signed = batch.report.batchSignature.length > 0;
      const keyId = signed ? batch.report.hostKeyId : receipt.hostKeyId;
      if (hostCheck === none) {
        reject(body, 'unknown_host_key', `host ${body.hostAddress} has no serving key "${keyId}"; register it at POST /hosts/serving-keys`);
        continue;
      }
      if (!valid[hostCheck]) {
        reject(body, 'bad_host_signature', `the ${signed ? 'batch' : 'receipt'} is not signed by serving key "${keyId}" of ${body.hostAddress}`);
        continue;
      }
      const grant = grants.get(body.grantId);
      if (!grant) {
        reject(body, 'unknown_grant', `grant ${body.grantId} was never issued`);
        continue;
      }
      if (body.modelId !== grant.modelId) {
        reject(body, 'wrong_model', `grant ${grant.id} is for model ${grant.modelId}, the receipt says ${body.modelId}`);
        continue;
      }
      if (!valid[userCheck]) {
        reject(
          body,
          'bad_user_signature',
          `the user's signature does not cover this request (grant ${grant.id}, counter ${body.counter}, host ${body.hostAddress})`,
        );
        continue;
      }
      const servedAt = Number(body.servedAt);
      const at = new Date(servedAt).toISOString();
      if (servedAt > now + skew) {
        reject(body, 'from_the_future', `served at ${at}, later than now (${new Date(now).toISOString()}) by more than the ${skew / 1000} s clock skew`);
        continue;
      }
      if (servedAt >= grant.expiresAt.getTime() || servedAt < grant.notBefore.getTime()) {
        reject(body, 'outside_grant', `served at ${at}, outside grant ${grant.id}'s validity`);
        continue;
      }
      const storedAt = batch.storedAt ?? now;
      const grace = this.config.ACCESS_REPORT_GRACE_MS;
      if (grant.revokedAt && (servedAt > grant.revokedAt.getTime() + skew || storedAt > grant.revokedAt.getTime() + grace)) {
        reject(
          body,
          'revoked',
          servedAt > grant.revokedAt.getTime() + skew
            ? `served at ${at}, after grant ${grant.id} was revoked at ${grant.revokedAt.toISOString()} (clock skew allowed: ${skew / 1000} s)`
            : `reported at ${new Date(storedAt).toISOString()}, more than ${grace / 1000} s after grant ${grant.id} was revoked at ${grant.revokedAt.toISOString()}`,
        );
        continue;
      }
      if (grant.hosts.length && !grant.hosts.some((h) => h.toLowerCase() === body.hostAddress.toLowerCase())) {
        reject(body, 'host_not_in_grant', `grant ${grant.id} is for hosts ${grant.hosts.join(', ')}, not ${body.hostAddress}`);
        continue;
      }
      const spans = licences.get(licenceKey(body.hostAddress, body.modelId)) ?? [];
      // Licensed when it says it served, and (a host dates its own receipts) reported soon enough after an end.
      if (!spans.some((l) => l.grantedAt <= servedAt + skew && (l.endedAt === null || (servedAt < l.endedAt && storedAt <= l.endedAt + grace)))) {
        const ended = spans.filter((l) => l.endedAt !== null).map((l) => new Date(l.endedAt!).toISOString());
        reject(
          body,
          'unlicensed',
          `host ${body.hostAddress} held no licence for model ${body.modelId} at ${at}${ended.length ? ` (its licence ended at ${ended.join(', ')}; a receipt dated before the end counts only if reported within ${grace / 1000} s of it)` : ''}`,
        );
        continue;
      }
      accepted.push({ grant, body, receipt, batch: signed ? batch : null });
    }
    current = undefined;
    // A (grant, counter) reported twice in one pull is one receipt.
    const seenInPull = new Set<string>();
    const unique = accepted.filter((a) => {
      const key = `${a.grant.id}/${a.body.counter}`;
      if (seenInPull.has(key)) return false;
      seenInPull.add(key);
      return true;
    });

    let counted = 0;
    let inserted = 0;
    if (unique.length) {
      // The grants of the pull are locked in id order (two pulls never deadlock): the quota is
      // checked against counters no other pull moves meanwhile.
      const used = await this.lockGrants(
        m,
        unique.map((a) => a.grant.id),
      );
      // A signed batch is the host's signature of its receipts: kept as the evidence behind them.
      const signedBatches = [...new Set(unique.map((a) => a.batch).filter((b): b is ReportedBatch => b !== null))];
      if (signedBatches.length) {
        await m.query(
          `INSERT INTO usage_batches (id, host_address, host_key_id, signature, body_hashes)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bytea[]) ON CONFLICT DO NOTHING`,
          [
            signedBatches.map((b) => b.id),
            signedBatches.map((b) => b.report.hostAddress),
            signedBatches.map((b) => b.report.hostKeyId),
            signedBatches.map((b) => Buffer.from(b.report.batchSignature).toString('base64url')),
            signedBatches.map((b) => bodyHashes.get(b)!),
          ],
        );
      }
      // Inserted first (ON CONFLICT tells what was counted before, with no read of the table);
      // what went past a quota is then taken out again, which is rare.
      const rows: { grant_id: string; counter: string }[] = await m.query(
        `INSERT INTO usage_receipts (grant_id, counter, host_address, model_id, user_id, tokens_in, tokens_out, served_at, receipt, batch_id)
         SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::int[], $7::int[], $8::timestamptz[], $9::text[], $10::uuid[])
         ON CONFLICT DO NOTHING RETURNING grant_id, counter`,
        [
          unique.map((a) => a.grant.id),
          unique.map((a) => String(a.body.counter)),
          unique.map((a) => a.body.hostAddress),
          unique.map((a) => a.body.modelId),
          unique.map((a) => a.grant.userId),
          unique.map((a) => a.body.tokensIn),
          unique.map((a) => a.body.tokensOut),
          unique.map((a) => new Date(Number(a.body.servedAt)).toISOString()),
          // A receipt of a signed batch is kept without any signature of its own: the batch's is the one checked.
          unique.map((a) =>
            Buffer.from(
              toBinary(
                accessV1.UsageReceiptSchema,
                a.batch ? create(accessV1.UsageReceiptSchema, { body: a.receipt.body, hostKeyId: a.batch.report.hostKeyId }) : a.receipt,
              ),
            ).toString('base64url'),
          ),
          unique.map((a) => a.batch?.id ?? null),
        ],
      );
      inserted = rows.length;
      const isNew = new Set(rows.map((r) => `${r.grant_id}/${r.counter}`));
      const fresh = unique.filter((a) => isNew.has(`${a.grant.id}/${a.body.counter}`));
      const past = this.pastQuota(fresh, used, reject);
      if (past.length) {
        await m.query('DELETE FROM usage_receipts WHERE (grant_id, counter) IN (SELECT * FROM unnest($1::uuid[], $2::bigint[]))', [
          past.map((a) => a.grant.id),
          past.map((a) => String(a.body.counter)),
        ]);
      }
      counted = inserted - past.length;
      if (counted) {
        await m.query(
          'UPDATE grants g SET counted_requests = u.requests, counted_tokens = u.tokens FROM unnest($1::uuid[], $2::bigint[], $3::bigint[]) AS u(id, requests, tokens) WHERE g.id = u.id',
          [[...used.keys()], [...used.values()].map((u) => String(u.requests)), [...used.values()].map((u) => String(u.tokens))],
        );
      }
    }
    const repeated = accepted.length - inserted;
    await this.recordRejections(m, rejections);
    const total = batches.reduce((n, b) => n + b.report.receipts.length, 0);
    if (rejections.length) this.log.warn(`${rejections.length} of ${total} receipts rejected (${[...new Set(rejections.map((r) => r.reason))].join(', ')})`);
    return { counted, duplicates: repeated, rejected: rejections.length, reasons: countBy(rejections.map((r) => r.reason)) };
  }

  /** Every refusal is kept for the host to read (GET /hosts/usage-rejections) and published with its reason, to its partner too. */
  async recordRejections(m: EntityManager, rejections: readonly Rejection[]): Promise<void> {
    if (!rejections.length) return;
    await m.query(
      `INSERT INTO usage_rejections (host_address, partner, grant_id, counter, reason, message)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[])`,
      [
        rejections.map((r) => r.hostAddress),
        rejections.map((r) => r.partner ?? null),
        rejections.map((r) => r.grantId),
        rejections.map((r) => String(r.counter)),
        rejections.map((r) => r.reason),
        rejections.map((r) => r.message),
      ],
    );
    // A refusal of what a partner reported also goes to that partner: access.usage.rejected.<partner> (PARTNERS).
    await this.outbox.enqueueMany(
      m,
      rejections.map((r) => ({
        subject: 'access.usage.rejected' as const,
        payload: { grantId: r.grantId, counter: r.counter, hostAddress: r.hostAddress, reason: r.reason, message: r.message, partner: r.partner ?? '' },
        ...(r.partner ? { partner: r.partner } : {}),
      })),
    );
  }

  /**
   * A licence ended at `endedAt`: receipts of the open epoch that its host served for the model at
   * or after the end, while no other licence of the host for the model held, are taken back (the
   * grants' counted usage with them) and refused with reason `licence_ended`. Returns how many.
   */
  async retractUnlicensed(m: EntityManager, host: string, modelId: string, endedAt: Date, why: string): Promise<number> {
    // The grants first, in id order, as ingest locks them: the two never wait on each other in a circle.
    const touched: { grant_id: string }[] = await m.query(
      'SELECT DISTINCT grant_id FROM usage_receipts WHERE epoch IS NULL AND lower(host_address) = lower($1) AND model_id = $2 AND served_at >= $3',
      [host, modelId, endedAt],
    );
    if (!touched.length) return 0;
    await this.lockGrants(
      m,
      touched.map((t) => t.grant_id),
    );
    // A DELETE … RETURNING answers [rows, count] through TypeORM.
    const [gone]: [{ grant_id: string; counter: string; host_address: string; tokens: string }[], number] = await m.query(
      `DELETE FROM usage_receipts r
       WHERE r.epoch IS NULL AND lower(r.host_address) = lower($1) AND r.model_id = $2 AND r.served_at >= $3
         AND NOT EXISTS (SELECT 1 FROM host_licences l WHERE lower(l.host_address) = lower($1) AND l.model_id = $2
                         AND l.granted_at <= r.served_at AND (l.ended_at IS NULL OR r.served_at < l.ended_at))
       RETURNING r.grant_id, r.counter, r.host_address, (r.tokens_in + r.tokens_out) AS tokens`,
      [host, modelId, endedAt],
    );
    if (!gone.length) return 0;
    await m.query(
      `UPDATE grants g SET counted_requests = g.counted_requests - u.requests, counted_tokens = g.counted_tokens - u.tokens
       FROM (SELECT id, count(*) AS requests, sum(tokens) AS tokens FROM unnest($1::uuid[], $2::bigint[]) AS t(id, tokens) GROUP BY id) u WHERE g.id = u.id`,
      [gone.map((r) => r.grant_id), gone.map((r) => r.tokens)],
    );
    await this.recordRejections(
      m,
      gone.map((r) => ({
        grantId: r.grant_id,
        counter: BigInt(r.counter),
        hostAddress: r.host_address,
        reason: 'licence_ended' as const,
        message: `served after ${r.host_address}'s licence for model ${modelId} ended at ${endedAt.toISOString()} (${why}); taken back from the open epoch`,
      })),
    );
    return gone.length;
  }

  /** The licences of these receipts' (host, model) pairs, as spans of time. */
  private async licencesOf(m: EntityManager, bodies: readonly accessV1.ReceiptBody[]): Promise<Map<string, LicenceSpan[]>> {
    const pairs = [...new Set(bodies.map((b) => licenceKey(b.hostAddress, b.modelId)))];
    const out = new Map<string, LicenceSpan[]>();
    if (!pairs.length) return out;
    const rows: { key: string; granted_at: Date; ended_at: Date | null }[] = await m.query(
      // FOR SHARE: a licence's end waits for this pull to commit, so its take-back sees these receipts.
      `SELECT lower(host_address) || '/' || model_id AS key, granted_at, ended_at FROM host_licences WHERE lower(host_address) || '/' || model_id = ANY($1::text[]) FOR SHARE`,
      [pairs],
    );
    for (const r of rows) out.set(r.key, [...(out.get(r.key) ?? []), { grantedAt: r.granted_at.getTime(), endedAt: r.ended_at?.getTime() ?? null }]);
    return out;
  }

  /** Locks the grants (in id order) and reads what they have counted across every host. */
  private async lockGrants(m: EntityManager, grantIds: readonly string[]): Promise<Map<string, { requests: bigint; tokens: bigint }>> {
    const ids = [...new Set(grantIds)].sort();
    const locked: { id: string; counted_requests: string; counted_tokens: string }[] = await m.query(
      'SELECT id, counted_requests, counted_tokens FROM grants WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE',
      [ids],
    );
    return new Map(locked.map((g) => [g.id, { requests: BigInt(g.counted_requests), tokens: BigInt(g.counted_tokens) }]));
  }

  /**
   * The quota holds across every host: newly counted receipts are admitted in counter order while
   * the grant's counted requests and tokens stay within its quota (`used` moves with them); the
   * rest are refused `over_quota` and returned.
   */
  private pastQuota<T extends { grant: Grant; body: accessV1.ReceiptBody; batch: ReportedBatch | null }>(
    fresh: T[],
    used: Map<string, { requests: bigint; tokens: bigint }>,
    reject: (body: accessV1.ReceiptBody, reason: RejectionReason, message: string, batch?: ReportedBatch) => void,
  ): T[] {
    const past: T[] = [];
    const sorted = [...fresh].sort((a, b) =>
      a.grant.id < b.grant.id ? -1 : a.grant.id > b.grant.id ? 1 : a.body.counter < b.body.counter ? -1 : a.body.counter > b.body.counter ? 1 : 0,
    );
    for (const a of sorted) {
      const u = used.get(a.grant.id)!;
      const tokens = BigInt(a.body.tokensIn + a.body.tokensOut);
      const quotaRequests = BigInt(a.grant.quotaRequests);
      const quotaTokens = BigInt(a.grant.quotaTokens);
      if ((quotaRequests > 0n && u.requests + 1n > quotaRequests) || (quotaTokens > 0n && u.tokens + tokens > quotaTokens)) {
        reject(
          a.body,
          'over_quota',
          `grant ${a.grant.id} has counted ${u.requests} of ${quotaRequests || 'unlimited'} requests and ${u.tokens} of ${quotaTokens || 'unlimited'} tokens across all hosts; request ${a.body.counter} (${tokens} tokens) is past its quota`,
          a.batch ?? undefined,
        );
        past.push(a);
        continue;
      }
      u.requests += 1n;
      u.tokens += tokens;
    }
    return past;
  }

  async totals(m: EntityManager, grantId: string) {
    const [row] = await m.query(
      'SELECT count(*)::int AS requests, coalesce(sum(tokens_in), 0)::int AS tokens_in, coalesce(sum(tokens_out), 0)::int AS tokens_out FROM usage_receipts WHERE grant_id = $1',
      [grantId],
    );
    return { requests: row.requests as number, tokensIn: row.tokens_in as number, tokensOut: row.tokens_out as number };
  }
}
