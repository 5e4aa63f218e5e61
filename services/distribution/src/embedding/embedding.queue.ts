import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { currentCause } from '@clopen/bus';
import { Queue, QueueEvents, type Job } from 'bullmq';
import Redis from 'ioredis';
import { CONFIG, Metrics } from '@clopen/service-kit';
import {
  CANCEL_MARK_SECONDS,
  EMBEDDING_QUEUE,
  cancelChannel,
  cancelKey,
  jobOptions,
  redisConnection,
  type EmbedCopyJob,
  type EmbeddingJobName,
  type GeneratePoolJob,
} from '@clopen/embedding-jobs';
import type { DistributionConfig } from '../distribution.settings';

/** distribution's side of the `fingerprint-embedding` queue: adding, finding and cancelling jobs, and its events. */
@Injectable()
export class EmbeddingQueue implements OnModuleDestroy {
  readonly queue: Queue;
  readonly events: QueueEvents;
  private readonly log = new Logger(EmbeddingQueue.name);

  constructor(
    @Inject(CONFIG) private readonly config: DistributionConfig,
    private readonly redis: Redis,
    metrics: Metrics,
  ) {
    const connection = redisConnection(config.REDIS_URL);
    this.queue = new Queue(EMBEDDING_QUEUE, { connection, prefix: config.BULLMQ_PREFIX });
    this.events = new QueueEvents(EMBEDDING_QUEUE, { connection, prefix: config.BULLMQ_PREFIX });
    this.queue.on('error', (e) => this.log.warn(`queue: ${e.message}`));
    this.events.on('error', (e) => this.log.warn(`queue events: ${e.message}`));
    // What operators scale embedders on (e.g. KEDA): jobs waiting, running, delayed for a retry, failed.
    metrics.gauge('embedding_queue_jobs', `Jobs in the ${EMBEDDING_QUEUE} queue by state`, ['state'], async (g) => {
      const counts = await this.queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized');
      for (const [state, n] of Object.entries(counts)) g.set({ state }, n);
    });
  }

  /** Adds a job unless one with this id exists (BullMQ ignores a duplicate id), so adding twice is safe. */
  add(name: 'generate-pool', jobId: string, data: GeneratePoolJob): Promise<Job>;
  add(name: 'embed-copy', jobId: string, data: EmbedCopyJob): Promise<Job>;
  add(name: EmbeddingJobName, jobId: string, data: GeneratePoolJob | EmbedCopyJob): Promise<Job> {
    // The job carries the correlation it was queued in, so the embedder's events join that chain.
    const cause = currentCause();
    return this.queue.add(name, cause ? { ...data, cause } : data, jobOptions(jobId, this.config.EMBEDDING_ATTEMPTS, this.config.EMBEDDING_BACKOFF_MS));
  }

  async job(jobId: string): Promise<Job | undefined> {
    return (await this.queue.getJob(jobId)) ?? undefined;
  }

  /**
   * A job with its state, read so that a finished job comes with its result: a job object read
   * while it ran has none, so one found finished is read again.
   */
  async settled(jobId: string): Promise<{ job: Job; state: string } | undefined> {
    const job = await this.job(jobId);
    if (!job) return undefined;
    const state = await job.getState();
    if (state !== 'completed' && state !== 'failed') return { job, state };
    const finished = await this.job(jobId);
    return finished ? { job: finished, state } : undefined;
  }

  /** Stops a job: a waiting one is removed; a running one is told through Redis and its worker aborts it. */
  async cancel(jobId: string): Promise<void> {
    await this.redis.set(cancelKey(this.config.BULLMQ_PREFIX, jobId), '1', 'EX', CANCEL_MARK_SECONDS);
    const job = await this.job(jobId);
    if (!job) return;
    const state = await job.getState();
    if (state === 'active') await this.redis.publish(cancelChannel(this.config.BULLMQ_PREFIX), jobId);
    else if (state !== 'completed' && state !== 'failed') await job.remove().catch(() => this.redis.publish(cancelChannel(this.config.BULLMQ_PREFIX), jobId));
  }

  /** Makes a failed or cancelled job runnable again under the same id. */
  async reset(jobId: string): Promise<void> {
    await this.redis.del(cancelKey(this.config.BULLMQ_PREFIX, jobId));
    const job = await this.job(jobId);
    if (job) await job.remove();
  }

  async onModuleDestroy() {
    await this.events.close();
    await this.queue.close();
  }
}
