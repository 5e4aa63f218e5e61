import { Body, Controller, Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit, Post } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { getAddress } from 'viem';
import { DataSource, type EntityManager } from 'typeorm';
import { CONFIG, CurrentHost, Forbidden, HostSigned, NotFound, ZodResponse } from '@clopen/service-kit';
import type { AccessConfig } from '../access.settings';
import { holdsActiveLicence } from '../licences/licence-projection';
import { HandoutsRequestBody, LeaseRequestBody, QuotaLeaseDto, type QuotaLease } from './quota-leases.contracts';

interface UsableGrant {
  id: string;
  model_id: string;
  hosts: string[];
  quota_requests: string;
  quota_tokens: string;
  not_before: Date;
  expires_at: Date;
  revoked_at: Date | null;
}

/**
 * Opening blocks: a grant's first request at a gateway would otherwise wait for a lease. When a grant
 * is issued for few hosts that are up (those it names, or those licensed for its model, that asked
 * for handouts lately: at most ACCESS_QUOTA_HANDOUT_HOSTS), access leases each of them a block at
 * once, at most a 1/(2 × hosts) share of the quota so most of it stays for whoever serves; the
 * gateways pick theirs up within their licence check period (POST /hosts/quota-leases/handouts). A
 * block not picked up within ACCESS_QUOTA_HANDOUT_SECONDS (its gateway is down) goes back to the grant.
 */
@Injectable()
export class QuotaHandouts implements OnModuleInit, OnApplicationShutdown {
  private readonly log = new Logger(QuotaHandouts.name);
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly db: DataSource,
    @Inject(CONFIG) private readonly config: AccessConfig,
  ) {}

  onModuleInit(): void {
    const period = Math.max(1_000, (this.config.ACCESS_QUOTA_HANDOUT_SECONDS * 1000) / 4);
    this.timer = setInterval(
      () => void this.takeBackStale().catch((e: Error) => this.log.warn(`taking back opening blocks not picked up: ${e.message}`)),
      period,
    );
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /** In the transaction that issues the grant: a block for each of its few hosts. */
  async handOut(m: EntityManager, g: { id: string; modelId: string; hosts: string[]; quotaRequests: string; quotaTokens: string }): Promise<number> {
    const most = this.config.ACCESS_QUOTA_HANDOUT_HOSTS;
    if (!most) return 0;
    // Hosts whose gateways are up: they picked up handouts within ACCESS_QUOTA_HANDOUT_PRESENCE_SECONDS (a
    // licensed host that is offline would strand its block until it is taken back).
    const rows: { host: string }[] = await m.query(
      `SELECT DISTINCT l.host_address AS host FROM host_licences l
         JOIN host_presence p ON lower(p.host_address) = lower(l.host_address) AND p.seen_at > now() - make_interval(secs => $4)
        WHERE l.model_id = $1 AND l.ended_at IS NULL AND (cardinality($2::text[]) = 0 OR lower(l.host_address) = ANY (SELECT lower(h) FROM unnest($2::text[]) AS h))
        LIMIT $3`,
      [g.modelId, g.hosts, most * 4 + 1, this.config.ACCESS_QUOTA_HANDOUT_PRESENCE_SECONDS],
    );
    // One row per host, as lease() and release() key it: the checksummed address.
    const hosts = [...new Set(rows.map((r) => getAddress(r.host)))];
    if (!hosts.length || hosts.length > most) return 0;
    const share = (quota: string, block: number) => (BigInt(quota) === 0n ? 0 : Math.min(block, Number(BigInt(quota) / BigInt(2 * hosts.length))));
    const requests = share(g.quotaRequests, this.config.ACCESS_QUOTA_HANDOUT_REQUESTS);
    const tokens = share(g.quotaTokens, this.config.ACCESS_QUOTA_HANDOUT_TOKENS);
    // A grant without quota is handed out too (nothing to count): its gateways learn that at once.
    if ((BigInt(g.quotaRequests) !== 0n && !requests) || (BigInt(g.quotaTokens) !== 0n && !tokens)) return 0;
    await m.query('INSERT INTO grant_leases (grant_id, requests, tokens) VALUES ($1, $2, $3)', [g.id, requests * hosts.length, tokens * hosts.length]);
    await m.query(
      `INSERT INTO quota_leases (grant_id, host_address, requests, tokens, handed_requests, handed_tokens, handed_at)
       SELECT $1, h, $3, $4, $3, $4, now() FROM unnest($2::text[]) AS h`,
      [g.id, hosts, requests, tokens],
    );
    return hosts.length;
  }

  /** Opening blocks not picked up in time go back to their grants. */
  takeBackStale(): Promise<number> {
    return this.takeBack({ olderThanSeconds: this.config.ACCESS_QUOTA_HANDOUT_SECONDS });
  }

  /**
   * Pending opening blocks go back to their grants: those older than `olderThanSeconds`, or all of a
   * host's (its gateway is leaving). The grant's total is locked first, as a lease locks it.
   */
  async takeBack(which: { olderThanSeconds?: number; host?: string }): Promise<number> {
    // The pending blocks meant, with the two arguments from parameter $n on.
    const filter = (n: number) =>
      `handed_at IS NOT NULL AND ($${n}::int IS NULL OR handed_at < now() - make_interval(secs => $${n})) AND ($${n + 1}::text IS NULL OR lower(host_address) = lower($${n + 1}))`;
    const args = [which.olderThanSeconds ?? null, which.host ?? null];
    const pending: { grant_id: string }[] = await this.db.query(`SELECT DISTINCT grant_id FROM quota_leases WHERE ${filter(1)} LIMIT 1000`, args);
    for (const { grant_id } of pending) {
      await this.db.transaction(async (m) => {
        await m.query('SELECT 1 FROM grant_leases WHERE grant_id = $1 FOR UPDATE', [grant_id]);
        await m.query(
          `WITH back AS (
             SELECT host_address, LEAST(handed_requests, requests) AS r, LEAST(handed_tokens, tokens) AS t FROM quota_leases WHERE grant_id = $1 AND ${filter(2)} FOR UPDATE),
           gone AS (
             UPDATE quota_leases q SET requests = q.requests - back.r, tokens = q.tokens - back.t, handed_requests = 0, handed_tokens = 0, handed_at = NULL
               FROM back WHERE q.grant_id = $1 AND q.host_address = back.host_address RETURNING back.r, back.t)
           UPDATE grant_leases SET requests = requests - (SELECT coalesce(sum(r), 0) FROM gone), tokens = tokens - (SELECT coalesce(sum(t), 0) FROM gone) WHERE grant_id = $1`,
          [grant_id, ...args],
        );
      });
    }
    return pending.length;
  }
}

/**
 * Quota across hosts, reserved before serving: a gateway leases a block of a grant's quota and
 * serves from it without asking again until it runs low, so a request costs no round trip, a
 * gateway keeps serving through a short partition from what it holds, and the blocks handed to all
 * hosts never add up to more than the quota. An idle or stopping gateway gives back what it did not
 * use. (A shared counter in Redis was the other way: every gateway, each run by another operator,
 * would need the platform's Redis and be trusted with it, and could not serve while cut off.)
 * Receipts are still checked against the quota at ingest, so a host that ignores its lease cannot
 * bill past the grant either.
 */
@ApiTags('hosts')
@HostSigned('host', 'access', { sessions: true })
@Controller('hosts/quota-leases')
export class QuotaLeasesController {
  constructor(
    private readonly db: DataSource,
    private readonly handouts$: QuotaHandouts,
  ) {}

  @Post()
  @ApiOperation({ summary: "Lease a block of a grant's quota to serve with → what was granted (0 when the quota is spent; null when unlimited)" })
  @ZodResponse({ status: 200, type: QuotaLeaseDto })
  async lease(@CurrentHost() host: string, @Body() input: LeaseRequestBody): Promise<QuotaLease> {
    // Read, not locked: a revocation that commits meanwhile is refused by the verifier and at ingest.
    const g = await this.usable(input.grantId, host);
    return this.db.transaction(async (m) => {
      // The grant's leased total, locked (created at the first lease): never the grant's own row,
      // which ingest holds while it counts a batch.
      const [leased]: { requests: string; tokens: string }[] = await m.query(
        'INSERT INTO grant_leases AS l (grant_id) VALUES ($1) ON CONFLICT (grant_id) DO UPDATE SET grant_id = l.grant_id RETURNING requests, tokens',
        [g.id],
      );
      const take = (quota: string, already: string, wanted: number) =>
        BigInt(quota) === 0n ? null : Number(minBig(BigInt(wanted), BigInt(quota) - BigInt(already)));
      const requests = take(g.quota_requests, leased.requests, input.requests);
      const tokens = take(g.quota_tokens, leased.tokens, input.tokens);
      await this.move(m, g.id, host, requests ?? 0, tokens ?? 0);
      return { grantId: g.id, requests, tokens };
    });
  }

  @Post('release')
  @ApiOperation({ summary: 'Give back what a lease did not use → what was taken back (at most what this host holds)' })
  @ZodResponse({ status: 200, type: QuotaLeaseDto })
  release(@CurrentHost() host: string, @Body() input: LeaseRequestBody): Promise<QuotaLease> {
    return this.db.transaction(async (m) => {
      // The grant's total first, as lease() locks it: never a circle of waits.
      await m.query('SELECT 1 FROM grant_leases WHERE grant_id = $1 FOR UPDATE', [input.grantId]);
      // What the host holds: not an opening block it has not picked up (that goes back by takeBack).
      const [held] = await m.query(
        'SELECT requests - handed_requests AS requests, tokens - handed_tokens AS tokens FROM quota_leases WHERE grant_id = $1 AND host_address = $2 FOR UPDATE',
        [input.grantId, host],
      );
      const requests = held ? Number(minBig(BigInt(input.requests), BigInt(held.requests))) : 0;
      const tokens = held ? Number(minBig(BigInt(input.tokens), BigInt(held.tokens))) : 0;
      if (requests || tokens) await this.move(m, input.grantId, host, -requests, -tokens);
      return { grantId: input.grantId, requests, tokens };
    });
  }

  @Post('handouts')
  @ApiOperation({
    summary:
      'Pick up the opening blocks access handed this host when grants were issued (null: the grant has no such quota), each given once; asking marks the host as up. {"leaving": true}: the gateway stops, no more blocks',
  })
  @ZodResponse({ status: 200, type: [QuotaLeaseDto] })
  async handouts(@CurrentHost() host: string, @Body() body: HandoutsRequestBody): Promise<QuotaLease[]> {
    if (body.leaving) {
      // The gateway stops: no more blocks for it, and those it did not pick up go back at once.
      await this.db.query('DELETE FROM host_presence WHERE host_address = $1', [host]);
      await this.handouts$.takeBack({ host });
      return [];
    }
    return this.db.transaction(async (m) => {
      // Asking is being present: new grants hand this host a block while it keeps asking.
      await m.query('INSERT INTO host_presence (host_address, seen_at) VALUES ($1, now()) ON CONFLICT (host_address) DO UPDATE SET seen_at = now()', [host]);
      // An UPDATE … RETURNING comes back from TypeORM as [rows, count].
      const [rows]: [{ grant_id: string; requests: string; tokens: string; quota_requests: string; quota_tokens: string }[], number] = await m.query(
        `WITH picked AS (
           SELECT grant_id, host_address, handed_requests, handed_tokens FROM quota_leases
            WHERE lower(host_address) = lower($1) AND handed_at IS NOT NULL ORDER BY grant_id FOR UPDATE)
         UPDATE quota_leases q SET handed_requests = 0, handed_tokens = 0, handed_at = NULL
           FROM picked JOIN grants g ON g.id = picked.grant_id
          WHERE q.grant_id = picked.grant_id AND q.host_address = picked.host_address
         RETURNING picked.grant_id, picked.handed_requests AS requests, picked.handed_tokens AS tokens, g.quota_requests, g.quota_tokens`,
        [host],
      );
      const held = (quota: string, n: string) => (BigInt(quota) === 0n ? null : Number(n));
      return rows.map((r) => ({ grantId: r.grant_id, requests: held(r.quota_requests, r.requests), tokens: held(r.quota_tokens, r.tokens) }));
    });
  }

  /** The grant, if this host may serve it now: valid, not revoked, naming the host (or any), and the host licensed for its model. */
  private async usable(grantId: string, host: string): Promise<UsableGrant> {
    const [g]: UsableGrant[] = await this.db.query(
      'SELECT id, model_id, hosts, quota_requests, quota_tokens, not_before, expires_at, revoked_at FROM grants WHERE id = $1',
      [grantId],
    );
    if (!g) throw new NotFound(`grant ${grantId} does not exist`);
    const refuse = (reason: string, message: string) => new Forbidden(message, { reason });
    const now = Date.now();
    if (g.revoked_at) throw refuse('revoked', `grant ${grantId} was revoked`);
    if (now < g.not_before.getTime() || now >= g.expires_at.getTime()) throw refuse('outside_grant', `grant ${grantId} is not valid now`);
    if (g.hosts.length && !g.hosts.some((h) => h.toLowerCase() === host.toLowerCase()))
      throw refuse('host_not_in_grant', `grant ${grantId} is not valid on host ${host}`);
    if (!(await holdsActiveLicence(this.db.manager, host, g.model_id)))
      throw refuse('unlicensed', `host ${host} holds no active licence for model ${g.model_id}`);
    return g;
  }

  /** Moves quota between the grant's leased total and this host's lease (negative: given back), in one statement. */
  private async move(m: EntityManager, grantId: string, host: string, requests: number, tokens: number): Promise<void> {
    if (!requests && !tokens) return;
    await m.query(
      `WITH total AS (UPDATE grant_leases SET requests = requests + $3, tokens = tokens + $4 WHERE grant_id = $1)
       INSERT INTO quota_leases (grant_id, host_address, requests, tokens) VALUES ($1, $2, $3, $4)
       ON CONFLICT (grant_id, host_address) DO UPDATE SET requests = quota_leases.requests + EXCLUDED.requests, tokens = quota_leases.tokens + EXCLUDED.tokens, updated_at = now()`,
      [grantId, host, requests, tokens],
    );
  }
}

const minBig = (a: bigint, b: bigint) => (a < b ? a : b);
