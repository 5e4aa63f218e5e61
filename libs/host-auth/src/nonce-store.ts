import type Redis from 'ioredis';

/** Remembers which nonces each host has used until they expire, so a captured header cannot be replayed. */
export interface NonceStore {
  /** True the first time (address, nonce) is claimed; false when it was already used. */
  claim(address: string, nonce: string, expiresAt: number): Promise<boolean>;
}

/** Shared across service replicas: one key per nonce, gone a second after the signature expires. */
export class RedisNonceStore implements NonceStore {
  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
  ) {}

  async claim(address: string, nonce: string, expiresAt: number): Promise<boolean> {
    // +1 so the key outlives the signature even when the verifier's clock and Redis's disagree by a tick.
    const seconds = Math.max(1, expiresAt - Math.floor(Date.now() / 1000) + 1);
    const set = await this.redis.set(`${this.keyPrefix}${address}:${nonce}`, '1', 'EX', seconds, 'NX');
    return set === 'OK';
  }
}

/** In-process store for unit tests and single-process tools; forgets a nonce once it has expired. */
export class MemoryNonceStore implements NonceStore {
  private readonly used = new Map<string, number>();

  /** `now` returns unix seconds; pass the verifier's clock when tests fix `now`. */
  constructor(private readonly now: () => number = () => Math.floor(Date.now() / 1000)) {}

  async claim(address: string, nonce: string, expiresAt: number): Promise<boolean> {
    const now = this.now();
    for (const [key, expiry] of this.used) if (expiry < now) this.used.delete(key);
    const key = `${address}:${nonce}`;
    if (this.used.has(key)) return false;
    this.used.set(key, expiresAt);
    return true;
  }
}
