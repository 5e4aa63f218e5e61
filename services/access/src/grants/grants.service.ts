import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import { getAddress, isAddress } from 'viem';
import { z } from 'zod';
import { Bus, BusRequestError, Outbox } from '@clopen/bus';
import { issueGrant } from '@clopen/host-sdk';
import { timestampFromDate } from '@clopen/proto';
import { CONFIG, InvalidArgument, NotFound, Unavailable, hasRole, parseInput, type Principal } from '@clopen/service-kit';
import { QuotaHandouts } from '../quota/quota-leases';
import type { AccessConfig } from '../access.settings';
import { Grant } from './grant.entity';

export const BuyGrantInput = z
  .object({
    modelId: z.string().uuid(),
    /** The user's ed25519 public key, 32 raw bytes as base64url (or base64). */
    userPublicKey: z.string().min(43).max(44),
    quota: z.object({ requests: z.number().int().min(0).optional(), tokens: z.number().int().min(0).optional() }).strict().refine((q) => (q.requests ?? 0) > 0 || (q.tokens ?? 0) > 0, 'a grant needs a request or token quota'),
    days: z.number().int().min(1),
    hosts: z.array(z.string()).max(100).optional(),
  })
  .strict();
export const RevokeInput = z.object({ reason: z.string().min(1).max(500) }).strict();

/** What the user keeps: the grant's terms and the signed bytes that go into every permission string. */
export function grantView(g: Grant) {
  return {
    id: g.id,
    modelId: g.modelId,
    userId: g.userId,
    hosts: g.hosts,
    quota: { requests: Number(g.quotaRequests), tokens: Number(g.quotaTokens) },
    notBefore: g.notBefore,
    expiresAt: g.expiresAt,
    issuerKeyId: g.issuerKeyId,
    grant: g.grantBytes,
    issuerSignature: g.issuerSignature,
    revokedAt: g.revokedAt,
    revokedReason: g.revokedReason,
  };
}

/** Permission grants: bought by an end user for a model, signed by the current issuer key, revocable. */
@Injectable()
export class GrantsService {
  constructor(
    private readonly db: DataSource,
    private readonly outbox: Outbox,
    private readonly bus: Bus,
    @Inject(CONFIG) private readonly config: AccessConfig,
    private readonly handouts: QuotaHandouts,
  ) {}

  async buy(principal: Principal, body: unknown): Promise<Grant> {
    const input = parseInput(BuyGrantInput, body);
    if (input.days > this.config.ACCESS_GRANT_MAX_DAYS) throw new InvalidArgument(`a grant lasts at most ${this.config.ACCESS_GRANT_MAX_DAYS} days`);
    const userKey = Buffer.from(input.userPublicKey, 'base64url');
    if (userKey.length !== 32) throw new InvalidArgument('userPublicKey must be an ed25519 public key: 32 bytes, base64url');
    const hosts = (input.hosts ?? []).map((h) => {
      if (!isAddress(h, { strict: false })) throw new InvalidArgument(`host ${JSON.stringify(h)} is not an EVM address`);
      return getAddress(h);
    });
    await this.assertModel(input.modelId);
    const issuer = this.config.ACCESS_ISSUER_KEYS.current;
    const id = uuidv7();
    const notBefore = new Date(Math.floor(Date.now() / 1000) * 1000);
    const expiresAt = new Date(notBefore.getTime() + input.days * 86_400_000);
    const signed = issueGrant(issuer.privateKey, {
      id,
      modelId: input.modelId,
      hosts,
      userPublicKey: userKey,
      quota: input.quota,
      notBefore: notBefore.getTime() / 1000,
      expiresAt: expiresAt.getTime() / 1000,
      issuerKeyId: issuer.id,
      userId: principal.id,
    });
    return this.db.transaction(async (m) => {
      const grant = await m.getRepository(Grant).save(
        m.getRepository(Grant).create({
          id,
          modelId: input.modelId,
          userId: principal.id,
          userPublicKey: userKey.toString('base64url'),
          hosts,
          quotaRequests: String(input.quota.requests ?? 0),
          quotaTokens: String(input.quota.tokens ?? 0),
          notBefore,
          expiresAt,
          issuerKeyId: issuer.id,
          grantBytes: Buffer.from(signed.bytes).toString('base64url'),
          issuerSignature: Buffer.from(signed.issuerSignature).toString('base64url'),
          revokedAt: null,
          revokedReason: null,
        }),
      );
      await this.outbox.enqueue(m, 'access.grant.issued', {
        grantId: id,
        modelId: grant.modelId,
        userId: grant.userId,
        hosts,
        quotaRequests: BigInt(grant.quotaRequests),
        quotaTokens: BigInt(grant.quotaTokens),
        expiresAt: timestampFromDate(expiresAt),
        issuerKeyId: issuer.id,
      });
      await this.handouts.handOut(m, grant);
      return grant;
    });
  }

  async get(principal: Principal, id: string): Promise<Grant> {
    const g = await this.db.getRepository(Grant).findOneBy({ id });
    if (!g || (!hasRole(principal, 'admin') && g.userId !== principal.id)) throw new NotFound(`grant ${id} does not exist`);
    return g;
  }

  async revoke(principal: Principal, id: string, body: unknown): Promise<Grant> {
    const { reason } = parseInput(RevokeInput, body);
    return this.db.transaction(async (m) => {
      const g = await m.getRepository(Grant).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
      if (!g || (!hasRole(principal, 'admin') && g.userId !== principal.id)) throw new NotFound(`grant ${id} does not exist`);
      if (g.revokedAt) return g;
      g.revokedAt = new Date();
      g.revokedReason = reason;
      await m.getRepository(Grant).save(g);
      await this.outbox.enqueue(m, 'access.grant.revoked', { grantId: g.id, reason, revokedAt: timestampFromDate(g.revokedAt), expiresAt: timestampFromDate(g.expiresAt) });
      return g;
    });
  }

  private async assertModel(modelId: string): Promise<void> {
    try {
      await this.bus.request('storage.model.get', { id: modelId });
    } catch (e) {
      if (e instanceof BusRequestError && e.code === 'not_found') throw new NotFound(`model ${modelId} does not exist in storage`);
      if (e instanceof BusRequestError) throw new Unavailable(`cannot check model ${modelId} with storage (${e.code}); try again`);
      throw e;
    }
  }
}
