/** What access granted of a lease: null where the grant has no such quota. */
export interface Granted {
  requests: number | null;
  tokens: number | null;
}

/** Why a request could not get quota: `over_quota`, or what access said of the grant (revoked, unlicensed, …). */
export class QuotaRefused extends Error {
  constructor(
    readonly reason: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export interface QuotaLeasesOptions {
  lease(grantId: string, requests: number, tokens: number): Promise<Granted>;
  release(grantId: string, requests: number, tokens: number): Promise<void>;
  /** Requests asked for per lease; a new one is fetched in the background when half is used. */
  block: number;
  /** Tokens asked for per lease. */
  tokenBlock: number;
  /**
   * After access had nothing left to lease, requests are refused at once, and access is asked again
   * in the background after this long (ms), doubling while it still has nothing, up to 16 times it.
   */
  recheckMs?: number;
  /** How long each reservation took (seconds), and whether it got quota. */
  observe?(seconds: number, outcome: 'granted' | 'refused'): void;
}

interface Held {
  requests: number | null;
  tokens: number | null;
  /** Whether access has answered for this grant at all. */
  known: boolean;
  lastUsed: number;
  /** Access had nothing left for this grant (0: it had): refuse at once, and ask again after then (ms). */
  spentUntil: number;
  /** The wait before asking again about a spent grant (ms). */
  recheck: number;
  /** Requests reserved and not settled yet: the grant's lease is not given back under them. */
  inFlight: number;
  fetching?: Promise<void>;
  refused?: QuotaRefused;
}

/**
 * The quota this gateway holds for each grant, leased from access in blocks (POST
 * /hosts/quota-leases): a request takes one from what is held, with no round trip, and the next
 * block is fetched in the background when half of one is used. When access has nothing left to
 * lease, the request is refused `over_quota`: all hosts together never serve more than the grant.
 * Blocks of a grant left idle are given back, as is everything when the gateway stops.
 */
export class QuotaLeases {
  private readonly held = new Map<string, Held>();

  constructor(private readonly options: QuotaLeasesOptions) {}

  /** Takes one request and up to `wantTokens` tokens of the grant; returns the tokens it may use. */
  async reserve(grantId: string, wantTokens: number): Promise<{ tokens: number }> {
    const started = performance.now();
    let outcome: 'granted' | 'refused' = 'refused';
    let refill: Held | undefined;
    try {
      const h = this.held.get(grantId) ?? this.fresh(grantId);
      h.lastUsed = Date.now();
      for (let attempt = 0; attempt < 2; attempt += 1) {
        if (h.known && (h.requests === null || h.requests >= 1) && (h.tokens === null || h.tokens >= 1)) {
          if (h.requests !== null) h.requests -= 1;
          h.inFlight += 1;
          const tokens = h.tokens === null ? wantTokens : Math.min(wantTokens, h.tokens);
          if (h.tokens !== null) h.tokens -= tokens;
          if ((h.requests !== null && h.requests < this.options.block / 2) || (h.tokens !== null && h.tokens < this.options.tokenBlock / 2)) refill = h;
          outcome = 'granted';
          return { tokens };
        }
        if (h.known && h.spentUntil > 0) {
          // Spent at access: refused without a wait; whether quota came back is asked in the background.
          if (Date.now() >= h.spentUntil) void this.fetch(grantId, h).catch(() => undefined);
          break;
        }
        if (h.known && attempt > 0) break;
        await this.fetch(grantId, h);
      }
      throw h.refused ?? new QuotaRefused('over_quota', `grant ${grantId} has no quota left on any host`, 429);
    } finally {
      this.options.observe?.((performance.now() - started) / 1000, outcome);
      // The next block is asked for after this request has its quota: starting the call is not its wait.
      if (refill) void this.fetch(grantId, refill).catch(() => undefined);
    }
  }

  /**
   * After a request: the tokens reserved and not used go back to what this gateway holds (the
   * prompt's count too, known only now: what is held may go below zero and the next request then
   * waits for a lease); a request that served nothing gives its request back.
   */
  settle(grantId: string, reservedTokens: number, usedTokens: number, served: boolean): void {
    const h = this.held.get(grantId);
    if (!h) return;
    h.inFlight = Math.max(0, h.inFlight - 1);
    h.lastUsed = Date.now();
    if (h.tokens !== null) h.tokens += reservedTokens - usedTokens;
    if (!served && h.requests !== null) h.requests += 1;
  }

  /** Gives back the blocks of grants idle for `idleMs` (all of them with 0). */
  async releaseIdle(idleMs: number): Promise<void> {
    const now = Date.now();
    await Promise.all(
      // Never under a request in flight (a long stream): its settle() must find the lease it drew from.
      [...this.held]
        .filter(([, h]) => now - h.lastUsed >= idleMs && !h.fetching && (h.inFlight === 0 || idleMs === 0))
        .map(async ([grantId, h]) => {
          this.held.delete(grantId);
          // What the prompts took beyond the lease may have left tokens below zero: nothing to give back.
          const requests = Math.max(0, h.requests ?? 0);
          const tokens = Math.max(0, h.tokens ?? 0);
          if (requests > 0 || tokens > 0) await this.options.release(grantId, requests, tokens).catch(() => undefined);
        }),
    );
  }

  get grants(): number {
    return this.held.size;
  }

  private fresh(grantId: string): Held {
    const h: Held = { requests: 0, tokens: 0, known: false, lastUsed: Date.now(), spentUntil: 0, recheck: this.options.recheckMs ?? 1_000, inFlight: 0 };
    this.held.set(grantId, h);
    return h;
  }

  /**
   * Quota access handed this gateway without being asked (the opening block of a grant issued for
   * few hosts, POST /hosts/quota-leases/handouts): held as if leased, so the grant's first request
   * here needs no round trip.
   */
  offer(grantId: string, g: Granted): void {
    const h = this.held.get(grantId) ?? this.fresh(grantId);
    h.lastUsed = Date.now();
    this.add(h, g);
  }

  private add(h: Held, g: Granted): void {
    h.requests = g.requests === null ? null : (h.known ? (h.requests ?? 0) : 0) + g.requests;
    h.tokens = g.tokens === null ? null : (h.known ? (h.tokens ?? 0) : 0) + g.tokens;
    h.known = true;
    h.refused = undefined;
  }

  private fetch(grantId: string, h: Held): Promise<void> {
    h.fetching ??= this.options
      .lease(grantId, this.options.block, this.options.tokenBlock)
      .then((g) => {
        this.add(h, g);
        const base = this.options.recheckMs ?? 1_000;
        if (g.requests === 0 || g.tokens === 0) {
          h.spentUntil = Date.now() + h.recheck;
          h.recheck = Math.min(h.recheck * 2, base * 16);
        } else {
          h.spentUntil = 0;
          h.recheck = base;
        }
      })
      .catch((e: unknown) => {
        if (e instanceof QuotaRefused) h.refused = e;
        else if (!h.known)
          h.refused = new QuotaRefused('quota_unavailable', `cannot lease quota of grant ${grantId} from access (${(e as Error).message}); try again`, 503);
      })
      .finally(() => {
        h.fetching = undefined;
      });
    return h.fetching;
  }
}
