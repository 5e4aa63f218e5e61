import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Worker, type Job } from 'bullmq';
import Redis from 'ioredis';
import { EMBEDDING_QUEUE, cancelChannel, redisConnection, type EmbedCopyJob, type EmbeddingJobName, type GeneratePoolJob } from '@clopen/embedding-jobs';
import { withCause, type Cause } from '@clopen/bus';
import { CONFIG, Metrics } from '@clopen/service-kit';
import type { EmbedderConfig } from '../embedder.settings';
import { EmbeddingJobsService } from './embedding-jobs.service';

/**
 * The BullMQ worker of this process. Several processes drain one queue; a process that dies stops
 * renewing its job locks, and BullMQ hands those jobs to another worker after the lock expires
 * (EMBEDDER_LOCK_DURATION_MS), up to EMBEDDER_MAX_STALLED times.
 */
@Injectable()
export class EmbeddingWorker implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger(EmbeddingWorker.name);
  private worker?: Worker;
  private subscriber?: Redis;

  constructor(
    @Inject(CONFIG) private readonly config: EmbedderConfig,
    private readonly jobs: EmbeddingJobsService,
    private readonly metrics: Metrics,
  ) {}

  async onApplicationBootstrap() {
    const c = this.config;
    const finished = this.metrics.counter('embedder_jobs_total', 'Jobs this worker ended, by kind and outcome', ['kind', 'outcome']);
    this.worker = new Worker(
      EMBEDDING_QUEUE,
      (job: Job, _token?: string, signal?: AbortSignal) => {
        const name = job.name as EmbeddingJobName;
        const run = () => {
          if (name === 'generate-pool') return this.jobs.generatePool(job as Job<GeneratePoolJob>, signal);
          if (name === 'embed-copy') return this.jobs.embedCopy(job as Job<EmbedCopyJob>, signal);
          throw new Error(`unknown job kind "${job.name}" on ${EMBEDDING_QUEUE}`);
        };
        // What the job publishes joins the chain of what queued it (the licence, the version).
        const cause = (job.data as { cause?: Cause }).cause;
        return cause ? withCause(cause, run) : run();
      },
      {
        connection: redisConnection(c.REDIS_URL),
        prefix: c.BULLMQ_PREFIX,
        concurrency: c.EMBEDDER_CONCURRENCY,
        lockDuration: c.EMBEDDER_LOCK_DURATION_MS,
        stalledInterval: c.EMBEDDER_STALLED_INTERVAL_MS,
        maxStalledCount: c.EMBEDDER_MAX_STALLED,
      },
    );
    this.worker.on('completed', (job) => finished.inc({ kind: job.name, outcome: 'completed' }));
    this.worker.on('failed', (job, err) => {
      finished.inc({ kind: job?.name ?? 'unknown', outcome: 'failed' });
      this.log.warn(`job ${job?.id} (${job?.name}) attempt ${job?.attemptsMade} failed: ${err.message}`);
    });
    this.worker.on('error', (e) => this.log.warn(`worker: ${e.message}`));

    // distribution asks for a running job to stop over this channel; only the worker holding it acts.
    this.subscriber = new Redis(c.REDIS_URL, { maxRetriesPerRequest: null });
    await this.subscriber.subscribe(cancelChannel(c.BULLMQ_PREFIX));
    this.subscriber.on('message', (_channel, jobId: string) => {
      if (this.worker?.cancelJob(jobId, 'cancelled')) this.log.log(`job ${jobId} cancelled`);
    });
    await this.worker.waitUntilReady();
    this.log.log(`worker on ${EMBEDDING_QUEUE}: concurrency ${c.EMBEDDER_CONCURRENCY}, ${c.EMBEDDER_THREADS} torch threads per job`);
  }

  /** On SIGTERM: stop taking jobs and let running ones finish within the grace period; the rest go back to the queue. */
  async onApplicationShutdown() {
    await this.subscriber?.quit().catch(() => undefined);
    await this.worker?.close();
  }
}
