import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import type { Job } from 'bullmq';

import { DataSource, In, type EntityManager } from 'typeorm';
import { Outbox, withCause } from '@clopen/bus';
import {
  copyContext,
  copyJobId,
  poolJobId,
  type EmbedCopyJob,
  type EmbedCopyResult,
  type EmbeddingProgress,
  type GeneratePoolResult,
} from '@clopen/embedding-jobs';
import { distributionV1 } from '@clopen/proto';
import { CONFIG } from '@clopen/service-kit';
import type { DistributionConfig } from '../distribution.settings';
import { EmbeddingNotCancellable, EmbeddingNotRetryable, LicenceNotFound } from '../distribution.errors';
import { Assignment, Licence } from '../licences/licence.entity';
import { AssignmentsService } from '../pools/assignments.service';
import { FingerprintPool } from '../pools/fingerprint-pool.entity';
import { PoolsService } from '../pools/pools.service';
import { EmbeddingJob, FINAL_STATES, type EmbeddingJobState } from './embedding-job.entity';
import type { EmbeddingStatus } from './embedding.contracts';
import { EmbeddingQueue } from './embedding.queue';

const STATE: Record<EmbeddingJobState, distributionV1.EmbeddingState> = {
  waiting_for_pool: distributionV1.EmbeddingState.QUEUED,
  queued: distributionV1.EmbeddingState.QUEUED,
  running: distributionV1.EmbeddingState.RUNNING,
  completed: distributionV1.EmbeddingState.COMPLETED,
  failed: distributionV1.EmbeddingState.FAILED,
  cancelled: distributionV1.EmbeddingState.CANCELLED,
};

/**
 * The record of each licence's copy job, kept in step with the queue: queue events and a periodic
 * reconcile (for events missed while this service was down) both land in `sync`, which is
 * idempotent. The end of a job (completed, failed, cancelled) is recorded and published once.
 */
@Injectable()
export class EmbeddingService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly log = new Logger(EmbeddingService.name);
  private timer?: NodeJS.Timeout;
  private reconciling?: Promise<void>;

  constructor(
    private readonly db: DataSource,
    private readonly outbox: Outbox,
    private readonly queue: EmbeddingQueue,
    private readonly pools: PoolsService,
    private readonly assignments: AssignmentsService,
    @Inject(CONFIG) private readonly config: DistributionConfig,
  ) {}

  onApplicationBootstrap() {
    const sync = ({ jobId }: { jobId: string }) => void this.sync(jobId).catch((e) => this.log.warn(`sync of job ${jobId}: ${(e as Error).message}`));
    for (const event of ['active', 'progress', 'completed', 'failed', 'delayed'] as const) this.queue.events.on(event, sync as never);
    this.timer = setInterval(() => void this.reconcile(), this.config.EMBEDDING_RECONCILE_MS);
    void this.reconcile();
  }

  async onModuleDestroy() {
    clearInterval(this.timer);
    await this.reconciling;
  }

  /** Within the licence's transaction: the job row, and the assignment when the pool is ready. */
  async open(m: EntityManager, licence: Licence): Promise<EmbeddingJob> {
    const pool = await m.getRepository(FingerprintPool).findOneBy({ versionId: licence.versionId });
    const ready = pool?.status === 'ready';
    if (ready) await this.assignments.assign(m, licence, pool);
    const repo = m.getRepository(EmbeddingJob);
    return repo.save(
      repo.create({ licenceId: licence.id, jobId: copyJobId(licence.id), state: ready ? 'queued' : 'waiting_for_pool', phase: '', percent: 0, attempts: 0 }),
    );
  }

  /** Puts a queued licence's job on the queue; safe to call again (same job id). */
  async submit(licenceId: string): Promise<void> {
    const row = await this.db.getRepository(EmbeddingJob).findOneBy({ licenceId });
    const licence = await this.db.getRepository(Licence).findOneBy({ id: licenceId });
    const assignment = await this.db.getRepository(Assignment).findOneBy({ licenceId });
    if (!row || row.state !== 'queued' || !licence || licence.status !== 'active' || !assignment) return;
    const pool = await this.db.getRepository(FingerprintPool).findOneByOrFail({ id: assignment.poolId });
    const entries = this.pools.entries(pool);
    await this.queue.add('embed-copy', row.jobId, {
      licenceId,
      poolId: pool.id,
      modelId: licence.modelId,
      versionId: licence.versionId,
      hostAddress: licence.hostAddress,
      copyLabel: `oml-${licence.id}`,
      sealedFingerprints: this.config.EMBEDDING_JOB_KEYS.sealJson(
        assignment.indices.map((i) => entries[i]),
        copyContext(licenceId),
      ),
      minRecall: this.config.EMBEDDING_MIN_RECALL,
      seed: parseInt(licenceId.replace(/-/g, '').slice(-7), 16),
    });
  }

  /** Licences that waited for their version's pool get their assignment and job once it is ready. */
  async startWaiting(versionId: string): Promise<void> {
    const waiting = await this.db
      .getRepository(EmbeddingJob)
      .createQueryBuilder('j')
      .innerJoin(Licence, 'l', 'l.id = j.licence_id')
      .where('j.state = :state AND l.version_id = :versionId AND l.status = :active', { state: 'waiting_for_pool', versionId, active: 'active' })
      .getMany();
    for (const job of waiting) {
      const started = await this.db.transaction(async (m) => {
        const row = await m.getRepository(EmbeddingJob).findOne({ where: { licenceId: job.licenceId }, lock: { mode: 'pessimistic_write' } });
        if (row?.state !== 'waiting_for_pool') return false;
        const licence = await m.getRepository(Licence).findOneByOrFail({ id: job.licenceId });
        await this.assignments.assign(m, licence, await this.pools.readyPool(versionId, m));
        row.state = 'queued';
        await m.getRepository(EmbeddingJob).save(row);
        return true;
      });
      if (started) await this.submit(job.licenceId);
    }
  }

  async status(licenceId: string): Promise<EmbeddingStatus> {
    const row = await this.db.getRepository(EmbeddingJob).findOneBy({ licenceId });
    if (!row) throw new LicenceNotFound(licenceId);
    const job = FINAL_STATES.includes(row.state) ? undefined : await this.queue.job(row.jobId);
    const progress = job && typeof job.progress === 'object' ? (job.progress as EmbeddingProgress) : undefined;
    return {
      licenceId,
      jobId: row.jobId,
      state: row.state,
      phase: progress?.phase ?? row.phase,
      percent: progress?.percent ?? row.percent,
      attempts: job?.attemptsMade ?? row.attempts,
      maxAttempts: this.config.EMBEDDING_ATTEMPTS,
      reason: row.reason,
      copyVersionId: row.copyVersionId,
      embedded: row.embedded,
      fingerprintCount: row.fingerprintCount,
      updatedAt: row.updatedAt,
    };
  }

  async cancel(licenceId: string, reason: string): Promise<void> {
    const cancelled = await this.finish(licenceId, 'cancelled', { reason });
    if (!cancelled) {
      const row = await this.db.getRepository(EmbeddingJob).findOneBy({ licenceId });
      if (!row) throw new LicenceNotFound(licenceId);
      throw new EmbeddingNotCancellable(licenceId, row.state);
    }
    await this.queue.cancel(copyJobId(licenceId));
  }

  async cancelIfRunning(licenceId: string, reason: string): Promise<void> {
    if (await this.finish(licenceId, 'cancelled', { reason })) await this.queue.cancel(copyJobId(licenceId));
  }

  async retry(licenceId: string): Promise<void> {
    const row = await this.db.getRepository(EmbeddingJob).findOneBy({ licenceId });
    const licence = await this.db.getRepository(Licence).findOneBy({ id: licenceId });
    if (!row || !licence) throw new LicenceNotFound(licenceId);
    if ((row.state !== 'failed' && row.state !== 'cancelled') || licence.status !== 'active')
      throw new EmbeddingNotRetryable(licenceId, licence.status === 'active' ? row.state : 'for an ended licence');
    await this.queue.reset(row.jobId);
    const hasAssignment = await this.db.getRepository(Assignment).existsBy({ licenceId });
    await this.db
      .getRepository(EmbeddingJob)
      .update({ licenceId }, { state: hasAssignment ? 'queued' : 'waiting_for_pool', reason: null, phase: '', percent: 0, attempts: 0 });
    await this.submit(licenceId);
  }

  /** Brings the record of one job in line with the queue. */
  async sync(jobId: string): Promise<void> {
    if (jobId.startsWith('pool-')) return this.syncPool(jobId.slice('pool-'.length));
    if (!jobId.startsWith('copy-')) return;
    const licenceId = jobId.slice('copy-'.length);
    const row = await this.db.getRepository(EmbeddingJob).findOneBy({ licenceId });
    if (!row || FINAL_STATES.includes(row.state) || row.state === 'waiting_for_pool') return;
    const found = await this.queue.settled(jobId);
    if (!found) {
      // Lost from Redis (flushed, or removed by hand): put it back.
      await this.submit(licenceId);
      return;
    }
    const { job, state } = found;
    // The end of a copy is caused by what queued it (the licence): its events join that chain.
    const cause = (job.data as EmbedCopyJob).cause;
    if (cause && (state === 'completed' || state === 'failed')) return withCause(cause, () => this.settle(licenceId, job, state));
    return this.settle(licenceId, job, state);
  }

  private async settle(licenceId: string, job: Job, state: string): Promise<void> {
    if (state === 'completed') {
      const r = job.returnvalue as EmbedCopyResult;
      await this.finish(licenceId, 'completed', {
        copyVersionId: r.copyVersionId,
        embedded: r.embedded,
        fingerprintCount: r.count,
        attempts: job.attemptsMade,
      });
    } else if (state === 'failed') {
      await this.finish(licenceId, 'failed', { reason: job.failedReason || 'the embedding job failed without a reason', attempts: job.attemptsMade });
    } else {
      const progress = typeof job.progress === 'object' ? (job.progress as EmbeddingProgress) : undefined;
      await this.db.getRepository(EmbeddingJob).update(
        { licenceId, state: In(['queued', 'running']) },
        {
          state: state === 'active' ? 'running' : 'queued',
          attempts: job.attemptsMade,
          ...(progress ? { phase: progress.phase, percent: progress.percent } : {}),
        },
      );
    }
  }

  private async syncPool(poolId: string): Promise<void> {
    const pool = await this.db.getRepository(FingerprintPool).findOneBy({ id: poolId });
    if (!pool || pool.status !== 'generating') return;
    const found = await this.queue.settled(poolJobId(poolId));
    if (!found) return this.pools.enqueue(pool);
    const { job, state } = found;
    if (state === 'completed') {
      await this.pools.recordGenerated(poolId, job.returnvalue as GeneratePoolResult);
      await this.startWaiting(pool.versionId);
    } else if (state === 'failed') {
      await this.pools.recordFailed(poolId, job.failedReason || 'pool generation failed without a reason');
    }
  }

  /** Records the end of a job once, with its event, in one transaction; false when it had already ended. */
  private async finish(
    licenceId: string,
    state: 'completed' | 'failed' | 'cancelled',
    fields: { reason?: string; copyVersionId?: string; embedded?: number; fingerprintCount?: number; attempts?: number },
  ): Promise<boolean> {
    return this.db.transaction(async (m) => {
      const row = await m.getRepository(EmbeddingJob).findOne({ where: { licenceId }, lock: { mode: 'pessimistic_write' } });
      if (!row || FINAL_STATES.includes(row.state)) return false;
      const licence = await m.getRepository(Licence).findOneByOrFail({ id: licenceId });
      Object.assign(row, { state, reason: fields.reason ?? null, ...(fields.copyVersionId ? { copyVersionId: fields.copyVersionId } : {}) });
      if (fields.embedded !== undefined) row.embedded = fields.embedded;
      if (fields.fingerprintCount !== undefined) row.fingerprintCount = fields.fingerprintCount;
      if (fields.attempts !== undefined) row.attempts = fields.attempts;
      if (state === 'completed') {
        row.phase = 'done';
        row.percent = 100;
      }
      await m.getRepository(EmbeddingJob).save(row);
      await this.outbox.enqueue(m, 'distribution.embedding.progressed', {
        jobId: row.jobId,
        licenceId,
        versionId: licence.versionId,
        hostAddress: licence.hostAddress,
        state: STATE[state],
        phase: row.phase,
        percent: row.percent,
        attempt: row.attempts,
        reason: row.reason ?? '',
        copyVersionId: row.copyVersionId ?? '',
      });
      if (state !== 'cancelled') this.log.log(`copy job of licence ${licenceId} ${state}${row.reason ? `: ${row.reason}` : ''}`);
      return true;
    });
  }

  /** Jobs whose events were missed; overlapping runs are skipped. */
  reconcile(): Promise<void> {
    this.reconciling ??= (async () => {
      try {
        const pools = await this.db.getRepository(FingerprintPool).find({ where: { status: 'generating' }, select: { id: true } });
        for (const p of pools) await this.syncPool(p.id);
        const rows = await this.db.getRepository(EmbeddingJob).find({ where: { state: In(['queued', 'running']) }, select: { jobId: true } });
        for (const r of rows) await this.sync(r.jobId);
        const waiting = await this.db
          .createQueryBuilder()
          .select('DISTINCT l.version_id', 'versionId')
          .from(EmbeddingJob, 'j')
          .innerJoin(Licence, 'l', 'l.id = j.licence_id')
          .innerJoin(FingerprintPool, 'p', 'p.version_id = l.version_id AND p.status = :ready', { ready: 'ready' })
          .where('j.state = :state', { state: 'waiting_for_pool' })
          .getRawMany<{ versionId: string }>();
        for (const w of waiting) await this.startWaiting(w.versionId);
      } catch (e) {
        this.log.warn(`reconcile: ${(e as Error).message}`);
      } finally {
        this.reconciling = undefined;
      }
    })();
    return this.reconciling;
  }
}
