import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { Bus, consume, type ConsumerHandle, type EventPayload } from '@clopen/bus';
import { timestampDate } from '@clopen/proto';
import { UsageService } from '../usage/usage.service';

/** Whether the host holds an active licence: for `modelId`, or for any model when it is null. */
export async function holdsActiveLicence(q: Pick<EntityManager, 'query'>, host: string, modelId: string | null): Promise<boolean> {
  const [{ active }] = await q.query(
    'SELECT count(*)::int AS active FROM host_licences WHERE lower(host_address) = lower($1) AND ended_at IS NULL AND ($2::text IS NULL OR model_id = $2)',
    [host, modelId],
  );
  return active > 0;
}

/**
 * Which host held a licence for which model, and when: access keeps its own copy of distribution's
 * licence events, so a receipt counts only when its host was licensed at the time it served, and
 * serving keys are registered only by licensed hosts. When a licence ends, receipts its host served
 * after the end that were already counted in the open epoch (their report overtook the end) are
 * taken back with reason `licence_ended`.
 */
@Injectable()
export class LicenceProjection implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger(LicenceProjection.name);
  private consumer?: ConsumerHandle;

  constructor(
    private readonly bus: Bus,
    private readonly db: DataSource,
    private readonly usage: UsageService,
  ) {}

  async onApplicationBootstrap() {
    await this.bus.ensureStreams();
    this.consumer = await consume({
      bus: this.bus,
      dataSource: this.db,
      durable: 'access',
      logger: this.log,
      maxDeliver: 10,
      backoffMs: [1_000, 5_000, 30_000],
      handlers: {
        'distribution.licence.granted': (payload, { manager }) => this.granted(manager, payload),
        'distribution.licence.ended': (payload, { manager }) => this.ended(manager, payload),
      },
    });
  }

  async onApplicationShutdown() {
    await this.consumer?.stop();
  }

  private async granted(m: EntityManager, { licence }: EventPayload<'distribution.licence.granted'>): Promise<void> {
    if (!licence) throw new Error('distribution.licence.granted without a licence');
    await m.query(
      `INSERT INTO host_licences (id, model_id, version_id, host_address, granted_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (id) DO UPDATE SET granted_at = least(host_licences.granted_at, EXCLUDED.granted_at)`,
      [licence.id, licence.modelId, licence.versionId, licence.hostAddress, licence.createdAt ? timestampDate(licence.createdAt) : new Date()],
    );
  }

  private async ended(m: EntityManager, { licence, reason, endedAt }: EventPayload<'distribution.licence.ended'>): Promise<void> {
    if (!licence) throw new Error('distribution.licence.ended without a licence');
    const at = endedAt ? timestampDate(endedAt) : new Date();
    await m.query(
      `INSERT INTO host_licences (id, model_id, version_id, host_address, granted_at, ended_at, end_reason) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (id) DO UPDATE SET ended_at = EXCLUDED.ended_at, end_reason = EXCLUDED.end_reason`,
      [licence.id, licence.modelId, licence.versionId, licence.hostAddress, licence.createdAt ? timestampDate(licence.createdAt) : at, at, reason],
    );
    const taken = await this.usage.retractUnlicensed(m, licence.hostAddress, licence.modelId, at, reason);
    this.log.log(
      `licence ${licence.id} of ${licence.hostAddress} on model ${licence.modelId} ended at ${at.toISOString()} (${reason})${taken ? `: ${taken} receipt(s) served after it taken back` : ''}`,
    );
  }
}
