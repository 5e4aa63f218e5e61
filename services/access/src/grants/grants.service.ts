import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import { getAddress } from 'viem';
import { Bus, BusRequestError, Outbox } from '@clopen/bus';
import { issueGrant } from '@clopen/host-sdk';
import { timestampFromDate } from '@clopen/proto';
import { CONFIG, InvalidArgument, NotFound, Unavailable, hasRole, type Principal } from '@clopen/service-kit';
import { QuotaHandouts } from '../quota/quota-leases';
import type { AccessConfig } from '../access.settings';
import { Grant } from './grant.entity';
import type { BuyGrant, GrantView } from './grants.contracts';

/** A grant as its user sees it. */
export function grantView(g: Grant): GrantView {
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

  async buy(principal: Principal, input: BuyGrant): Promise<Grant> {
    if (input.days > this.config.ACCESS_GRANT_MAX_DAYS) throw new InvalidArgument(`a grant lasts at most ${this.config.ACCESS_GRANT_MAX_DAYS} days`);
    const userKey = Buffer.from(input.userPublicKey, 'base64url');
    const hosts = (input.hosts ?? []).map((h) => getAddress(h));
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

  async revoke(principal: Principal, id: string, reason: string): Promise<Grant> {
    return this.db.transaction(async (m) => {
      const g = await m.getRepository(Grant).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
      if (!g || (!hasRole(principal, 'admin') && g.userId !== principal.id)) throw new NotFound(`grant ${id} does not exist`);
      if (g.revokedAt) return g;
      g.revokedAt = new Date();
      g.revokedReason = reason;
      await m.getRepository(Grant).save(g);
      await this.outbox.enqueue(m, 'access.grant.revoked', {
        grantId: g.id,
        reason,
        revokedAt: timestampFromDate(g.revokedAt),
        expiresAt: timestampFromDate(g.expiresAt),
      });
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
