import { Injectable } from '@nestjs/common';
import { DataSource, QueryFailedError, type FindOptionsWhere } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import { getAddress, isAddress } from 'viem';
import { Outbox } from '@clopen/bus';
import { storageV1, timestampFromDate } from '@clopen/proto';
import { BadHostAddress, LicenceExists, LicenceNotFound, OmlVersionRefused } from '../distribution.errors';
import { EmbeddingService } from '../embedding/embedding.service';
import { Catalogue } from '../storage/catalogue';
import { Licence, type LicenceOrigin } from './licence.entity';
import type { GrantLicence, ListLicences } from './licences.contracts';
import { toLicenceMessage } from './licences.events';

export function hostAddressOf(value: unknown): `0x${string}` {
  if (typeof value !== 'string' || !isAddress(value, { strict: false })) throw new BadHostAddress(value);
  return getAddress(value);
}

/** Licences: a host × model version, granted on confirmed collateral (or by an admin), ended on unstake or slash. */
@Injectable()
export class LicencesService {
  constructor(
    private readonly db: DataSource,
    private readonly outbox: Outbox,
    private readonly catalogue: Catalogue,
    private readonly embedding: EmbeddingService,
  ) {}

  async grant(input: GrantLicence, origin: LicenceOrigin): Promise<Licence> {
    const hostAddress = hostAddressOf(input.hostAddress);
    const version = await this.catalogue.version(input.versionId);
    if (version.kind === storageV1.VersionKind.OML) throw new OmlVersionRefused(version.id);
    let licence: Licence;
    try {
      licence = await this.db.transaction(async (m) => {
        const l = await m.getRepository(Licence).save(
          m.getRepository(Licence).create({
            id: uuidv7(),
            modelId: version.modelId,
            versionId: version.id,
            hostAddress,
            origin,
            status: 'active',
            endedReason: null,
            endedAt: null,
          }),
        );
        await this.outbox.enqueue(m, 'distribution.licence.granted', { licence: toLicenceMessage(l) });
        await this.embedding.open(m, l);
        return l;
      });
    } catch (e) {
      if (e instanceof QueryFailedError && (e as { code?: string }).code === '23505') {
        const existing = await this.db.getRepository(Licence).findOneBy({ versionId: version.id, hostAddress, status: 'active' });
        throw new LicenceExists(hostAddress, version.id, existing?.id ?? 'unknown');
      }
      throw e;
    }
    await this.embedding.submit(licence.id);
    return licence;
  }

  async end(id: string, reason: string): Promise<Licence> {
    const licence = await this.db.transaction(async (m) => {
      const l = await m.getRepository(Licence).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
      if (!l) throw new LicenceNotFound(id);
      if (l.status === 'ended') return l;
      l.status = 'ended';
      l.endedReason = reason;
      l.endedAt = new Date();
      await m.getRepository(Licence).save(l);
      await this.outbox.enqueue(m, 'distribution.licence.ended', { licence: toLicenceMessage(l), reason, endedAt: timestampFromDate(l.endedAt) });
      return l;
    });
    await this.embedding.cancelIfRunning(id, `licence ended: ${reason}`);
    return licence;
  }

  async get(id: string): Promise<Licence> {
    const l = await this.db.getRepository(Licence).findOneBy({ id });
    if (!l) throw new LicenceNotFound(id);
    return l;
  }

  list(q: ListLicences): Promise<Licence[]> {
    const where: FindOptionsWhere<Licence> = {};
    if (q.versionId) where.versionId = q.versionId;
    if (q.host) where.hostAddress = hostAddressOf(q.host);
    if (q.status) where.status = q.status;
    return this.db.getRepository(Licence).find({ where, order: { createdAt: 'ASC' }, take: 1000 });
  }

  forHost(hostAddress: string): Promise<Licence[]> {
    return this.db.getRepository(Licence).find({ where: { hostAddress }, order: { createdAt: 'ASC' } });
  }
}
