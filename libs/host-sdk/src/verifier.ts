import type { KeyObject } from 'node:crypto';
import type { accessV1 } from '@clopen/proto';
import { PermissionError } from './errors';
import { verifyEd25519 } from './ed25519';
import { rawPublicKey } from './keys';
import { decodePermission, grantSigningBytes, requestDigest, type RequestBinding } from './permission';

/** Grants whose ids were revoked; the host keeps it current from the access service's revocation feed. */
export interface RevocationList {
  isRevoked(grantId: string): boolean;
}

export interface PermissionVerifierOptions {
  /** This host's EVM address. */
  host: string;
  /** Issuer public keys by key id; old keys stay until the grants they signed expire. */
  issuerKeys: ReadonlyMap<string, KeyObject>;
  revoked?: RevocationList;
  /** Counters may arrive out of order by up to this much (concurrent requests); older ones are replays. Default 1024. */
  counterWindow?: number;
  /** Unix seconds; for tests. */
  now?: () => number;
  /**
   * Refuse `over_quota` from this process's own count (default true). A host that reserves the
   * grant's quota across all its hosts elsewhere (the gateway's leases from access) turns it off:
   * a request refused there must not count here.
   */
  enforceQuota?: boolean;
}

export interface VerifiedPermission {
  grantId: string;
  userId: string;
  modelId: string;
  counter: bigint;
  /** The user's signature of this request, which the host's usage receipt carries. */
  userSignature: Uint8Array;
  /** Left after this request; null when not limited. */
  requestsLeft: bigint | null;
  tokensLeft: bigint | null;
}

/** What a host remembers of a grant: checked once, then only the per-request parts. */
interface KnownGrant {
  bytes: Buffer;
  issuerSignature: Buffer;
  grant: accessV1.Grant;
  userKey: Uint8Array;
  highest: bigint;
  seen: Set<bigint>;
  requests: bigint;
  tokens: bigint;
}

/**
 * Verifies the permission string of each request. The issuer's signature is checked the first
 * time a grant is seen and the grant cached; after that a request costs one ed25519 verify (the
 * user's signature over this request) and a few comparisons. A refused request changes nothing:
 * no counter is used and no quota spent.
 */
export class PermissionVerifier {
  private readonly grants = new Map<string, KnownGrant>();
  private readonly window: bigint;
  private readonly now: () => number;
  private issuerKeys: ReadonlyMap<string, Buffer>;

  constructor(private readonly options: PermissionVerifierOptions) {
    this.issuerKeys = new Map([...options.issuerKeys].map(([id, key]) => [id, rawPublicKey(key)]));
    this.window = BigInt(options.counterWindow ?? 1024);
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
  }

  verify(header: string | undefined, request: Omit<RequestBinding, 'host'>): VerifiedPermission {
    const { message, grant } = decodePermission(header);
    const known = this.known(message, grant);
    const g = known.grant;
    const now = BigInt(this.now());
    if (now < g.notBefore) throw new PermissionError('not_yet_valid', `grant ${g.id} is valid from ${g.notBefore} (unix seconds); now is ${now}`);
    if (now >= g.expiresAt) throw new PermissionError('expired', `grant ${g.id} expired at ${g.expiresAt} (unix seconds); buy or renew a grant`);
    if (g.modelId !== request.model) throw new PermissionError('wrong_model', `grant ${g.id} is for model ${g.modelId}, not ${request.model}`);
    const host = this.options.host.toLowerCase();
    if (g.hosts.length && !g.hosts.some((h) => h.toLowerCase() === host))
      throw new PermissionError('wrong_host', `grant ${g.id} is not valid on host ${this.options.host}`);
    if (this.options.revoked?.isRevoked(g.id)) throw new PermissionError('revoked', `grant ${g.id} was revoked`);
    const counter = message.counter;
    if (!verifyEd25519(message.userSignature, requestDigest(g.id, counter, { ...request, host: this.options.host }), known.userKey)) {
      throw new PermissionError(
        'bad_signature',
        `the user's signature does not match this request (grant ${g.id}, counter ${counter}, this host, model and body); sign each request with the grant's key`,
      );
    }
    if (counter + this.window <= known.highest || known.seen.has(counter)) {
      throw new PermissionError(
        'replayed',
        `counter ${counter} of grant ${g.id} was used already or is too old (highest seen ${known.highest}); use a fresh, increasing counter`,
      );
    }
    const quota = g.quota;
    if (this.options.enforceQuota !== false) {
      if (quota?.requests && known.requests >= quota.requests) throw new PermissionError('over_quota', `grant ${g.id} has used all ${quota.requests} requests`);
      if (quota?.tokens && known.tokens >= quota.tokens) throw new PermissionError('over_quota', `grant ${g.id} has used all ${quota.tokens} tokens`);
    }

    // Accepted: only now are the counter and a request spent.
    known.seen.add(counter);
    if (counter > known.highest) known.highest = counter;
    if (known.seen.size > 2 * Number(this.window)) for (const c of known.seen) if (c + this.window <= known.highest) known.seen.delete(c);
    known.requests += 1n;
    return {
      grantId: g.id,
      userId: g.userId,
      modelId: g.modelId,
      counter,
      userSignature: message.userSignature,
      requestsLeft: quota?.requests ? quota.requests - known.requests : null,
      tokensLeft: quota?.tokens ? quota.tokens - known.tokens : null,
    };
  }

  /** Replaces the issuer keys (the access service publishes new ones as it rotates); cached grants stay. */
  setIssuerKeys(keys: ReadonlyMap<string, KeyObject>): void {
    this.issuerKeys = new Map([...keys].map(([id, key]) => [id, rawPublicKey(key)]));
  }

  /** Counts the tokens a served request used against the grant's token quota. */
  recordTokens(grantId: string, tokens: number): void {
    const known = this.grants.get(grantId);
    if (known) known.tokens += BigInt(tokens);
  }

  /** Forgets grants that expired (their counters can no longer be replayed: the grant is refused). */
  sweepExpired(): number {
    const now = BigInt(this.now());
    let removed = 0;
    for (const [id, k] of this.grants) {
      if (now >= k.grant.expiresAt) {
        this.grants.delete(id);
        removed += 1;
      }
    }
    return removed;
  }

  get cachedGrants(): number {
    return this.grants.size;
  }

  private known(message: accessV1.PermissionString, grant: accessV1.Grant): KnownGrant {
    const cached = this.grants.get(grant.id);
    // The same id with other bytes is never trusted from the cache: it is checked like a new grant.
    if (cached && cached.bytes.equals(message.grant) && cached.issuerSignature.equals(message.issuerSignature)) return cached;
    const issuerKey = this.issuerKeys.get(grant.issuerKeyId);
    if (!issuerKey)
      throw new PermissionError(
        'forged',
        `grant ${grant.id} names issuer key "${grant.issuerKeyId}", which this host does not know; refresh the issuer keys from the access service`,
      );
    if (!verifyEd25519(message.issuerSignature, grantSigningBytes(message.grant), issuerKey)) {
      throw new PermissionError('forged', `grant ${grant.id} is not signed by issuer key "${grant.issuerKeyId}"`);
    }
    if (cached) throw new PermissionError('forged', `grant ${grant.id} arrived with other contents than before`);
    const userKey = Buffer.from(grant.userPublicKey);
    const known: KnownGrant = {
      bytes: Buffer.from(message.grant),
      issuerSignature: Buffer.from(message.issuerSignature),
      grant,
      userKey,
      highest: 0n,
      seen: new Set(),
      requests: 0n,
      tokens: 0n,
    };
    this.grants.set(grant.id, known);
    return known;
  }
}
