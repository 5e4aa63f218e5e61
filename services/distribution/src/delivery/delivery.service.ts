import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import { Outbox } from '@clopen/bus';
import { timestampFromDate } from '@clopen/proto';
import { CONFIG } from '@clopen/service-kit';
import type { DistributionConfig } from '../distribution.settings';
import { CopyNotReady, LicenceEnded, LicenceNotFound } from '../distribution.errors';
import { EmbeddingJob } from '../embedding/embedding-job.entity';
import { EmbeddingService } from '../embedding/embedding.service';
import { Licence } from '../licences/licence.entity';
import { Catalogue } from '../storage/catalogue';
import type { DeliveredCopy } from './delivery.contracts';
import { Delivery } from './delivery.entity';

/** Hands a licensed host, and no one else, short-lived URLs for its own copy, and records each hand-over. */
@Injectable()
export class DeliveryService {
  constructor(
    private readonly db: DataSource,
    private readonly outbox: Outbox,
    private readonly catalogue: Catalogue,
    private readonly embedding: EmbeddingService,
    @Inject(CONFIG) private readonly config: DistributionConfig,
  ) {}

  /** The host's licence, or NotFound when it is another host's: a host cannot learn of others' licences. */
  async licenceOf(hostAddress: string, licenceId: string): Promise<Licence> {
    const licence = await this.db.getRepository(Licence).findOneBy({ id: licenceId });
    if (!licence || licence.hostAddress !== hostAddress) throw new LicenceNotFound(licenceId);
    return licence;
  }

  async deliver(hostAddress: string, licenceId: string): Promise<DeliveredCopy> {
    const licence = await this.licenceOf(hostAddress, licenceId);
    if (licence.status !== 'active') throw new LicenceEnded(licence.id, licence.endedReason);
    const job = await this.db.getRepository(EmbeddingJob).findOneBy({ licenceId });
    if (!job || job.state !== 'completed' || !job.copyVersionId) {
      const status = await this.embedding.status(licenceId);
      throw new CopyNotReady(licenceId, status.state, status.phase, status.percent);
    }
    const version = await this.catalogue.storage.getVersion(job.copyVersionId);
    const ttl = this.config.DELIVERY_URL_TTL_SECONDS;
    const files = await Promise.all(
      version.files.map(async (f) => ({
        path: f.path,
        size: f.size,
        sha256: f.sha256,
        url: (await this.catalogue.storage.presignedUrl(version.id, f.path, ttl)).url,
      })),
    );
    const delivery = await this.db.transaction(async (m) => {
      const d = await m.getRepository(Delivery).save(
        m.getRepository(Delivery).create({
          id: uuidv7(),
          licenceId,
          hostAddress,
          copyVersionId: version.id,
          files: files.map((f) => f.path),
          expiresAt: new Date(Date.now() + ttl * 1000),
        }),
      );
      await this.outbox.enqueue(m, 'distribution.copy.delivered', {
        deliveryId: d.id,
        licenceId,
        hostAddress,
        copyVersionId: version.id,
        files: d.files,
        expiresAt: timestampFromDate(d.expiresAt),
      });
      return d;
    });
    return { deliveryId: delivery.id, licenceId, copyVersionId: version.id, expiresAt: delivery.expiresAt, files };
  }

  history(licenceId: string): Promise<Delivery[]> {
    return this.db.getRepository(Delivery).find({ where: { licenceId }, order: { createdAt: 'ASC' } });
  }
}
