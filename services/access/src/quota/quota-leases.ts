import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { DataSource, type EntityManager } from 'typeorm';
import { z } from 'zod';
import { CurrentHost, Forbidden, HostSigned, NotFound, parseInput } from '@clopen/service-kit';
import { holdsActiveLicence } from '../licences/licence-projection';

const LeaseInput = z
  .object({
    grantId: z.string().uuid(),
    /** Requests wanted; access hands out at most what the grant has not leased to any host. */
    requests: z.number().int().min(0).max(100_000),
    tokens: z.number().int().min(0).max(1_000_000_000).default(0),
  })
  .strict();

export interface QuotaLease {
  grantId: string;
  /** Requests this host may serve on top of what it holds; null when the grant has no request quota. */
  requests: number | null;
  tokens: number | null;
}

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
  constructor(private readonly db: DataSource) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({ summary: 'Lease a block of a grant\'s quota to serve with: {"grantId", "requests", "tokens"} → what was granted (0 when the quota is spent; null when unlimited)' })
  async lease(@CurrentHost() host: string, @Body() body: unknown): Promise<QuotaLease> {
    const input = parseInput(LeaseInput, body);
    // Read, not locked: a revocation that commits meanwhile is refused by the verifier and at ingest.
    const g = await this.usable(input.grantId, host);
    return this.db.transaction(async (m) => {
      // The grant's leased total, locked (created at the first lease): never the grant's own row,
      // which ingest holds while it counts a batch.
      const [leased]: { requests: string; tokens: string }[] = await m.query(
        'INSERT INTO grant_leases AS l (grant_id) VALUES ($1) ON CONFLICT (grant_id) DO UPDATE SET grant_id = l.grant_id RETURNING requests, tokens',
        [g.id],
      );
      const take = (quota: string, already: string, wanted: number) => (BigInt(quota) === 0n ? null : Number(minBig(BigInt(wanted), BigInt(quota) - BigInt(already))));
      const requests = take(g.quota_requests, leased.requests, input.requests);
      const tokens = take(g.quota_tokens, leased.tokens, input.tokens);
      await this.move(m, g.id, host, requests ?? 0, tokens ?? 0);
      return { grantId: g.id, requests, tokens };
    });
  }

  @Post('release')
  @HttpCode(200)
  @ApiOperation({ summary: 'Give back what a lease did not use: {"grantId", "requests", "tokens"} → what was taken back (at most what this host holds)' })
  release(@CurrentHost() host: string, @Body() body: unknown): Promise<QuotaLease> {
    const input = parseInput(LeaseInput, body);
    return this.db.transaction(async (m) => {
      // The grant's total first, as lease() locks it: never a circle of waits.
      await m.query('SELECT 1 FROM grant_leases WHERE grant_id = $1 FOR UPDATE', [input.grantId]);
      const [held] = await m.query('SELECT requests, tokens FROM quota_leases WHERE grant_id = $1 AND lower(host_address) = lower($2) FOR UPDATE', [input.grantId, host]);
      const requests = held ? Number(minBig(BigInt(input.requests), BigInt(held.requests))) : 0;
      const tokens = held ? Number(minBig(BigInt(input.tokens), BigInt(held.tokens))) : 0;
      if (requests || tokens) await this.move(m, input.grantId, host, -requests, -tokens);
      return { grantId: input.grantId, requests, tokens };
    });
  }

  /** The grant, if this host may serve it now: valid, not revoked, naming the host (or any), and the host licensed for its model. */
  private async usable(grantId: string, host: string): Promise<UsableGrant> {
    const [g]: UsableGrant[] = await this.db.query('SELECT id, model_id, hosts, quota_requests, quota_tokens, not_before, expires_at, revoked_at FROM grants WHERE id = $1', [grantId]);
    if (!g) throw new NotFound(`grant ${grantId} does not exist`);
    const refuse = (reason: string, message: string) => new Forbidden(message, { reason });
    const now = Date.now();
    if (g.revoked_at) throw refuse('revoked', `grant ${grantId} was revoked`);
    if (now < g.not_before.getTime() || now >= g.expires_at.getTime()) throw refuse('outside_grant', `grant ${grantId} is not valid now`);
    if (g.hosts.length && !g.hosts.some((h) => h.toLowerCase() === host.toLowerCase())) throw refuse('host_not_in_grant', `grant ${grantId} is not valid on host ${host}`);
    if (!(await holdsActiveLicence(this.db.manager, host, g.model_id))) throw refuse('unlicensed', `host ${host} holds no active licence for model ${g.model_id}`);
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
