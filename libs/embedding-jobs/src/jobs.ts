import type { ConnectionOptions, JobsOptions } from 'bullmq';

/**
 * The queue distribution fills and embedder workers drain. Two job kinds run on it: generating a
 * model version's fingerprint pool, and embedding one host's assignment into that host's copy.
 * Payloads and results carry fingerprint secrets only sealed (see KeyRing), under EMBEDDING_JOB_KEYS,
 * which distribution and the embedders share and nothing else holds.
 */
export const EMBEDDING_QUEUE = 'fingerprint-embedding';

export type EngineStrategy = {
  keyStrategy: 'english' | 'random';
  responseStrategy: 'perinucleus' | 'random';
  keyLength: number;
};

export interface GeneratePoolJob {
  cause?: JobCause;
  poolId: string;
  modelId: string;
  versionId: string;
  count: number;
  strategy: EngineStrategy;
  seed: number;
}

export interface GeneratePoolResult {
  /** The pool, `[{key, response}]`, sealed for `poolContext(poolId)`. */
  sealedPool: string;
  count: number;
}

export interface EmbedCopyJob {
  cause?: JobCause;
  licenceId: string;
  poolId: string;
  modelId: string;
  /** The base version the copy is made from; it becomes the copy's parent. */
  versionId: string;
  hostAddress: string;
  /** The copy's label in storage; fixed per licence so a re-run finds the copy a dead worker stored. */
  copyLabel: string;
  /** `[{key, response}]` of this host's assignment, sealed for `copyContext(licenceId)`. */
  sealedFingerprints: string;
  /** A copy recalling fewer of its fingerprints than this is not stored. */
  minRecall: number;
  seed: number;
}

export interface EmbedCopyResult {
  copyVersionId: string;
  count: number;
  embedded: number;
  recall: number;
  heldoutLossIncrease: number | null;
  /** True when an earlier attempt had stored the copy and this one only found it. */
  reused: boolean;
}

export type EmbeddingJobName = 'generate-pool' | 'embed-copy';

/**
 * The correlation a job carries from whatever caused it (the licence's grant, the version's
 * publication): the embedder runs the job in it, so its events join the same chain
 * (libs/bus withCause). Absent on jobs queued outside any cause.
 */
export interface JobCause {
  correlationId: string;
  causationId: string;
}

/** What workers report with job.updateProgress. */
export interface EmbeddingProgress {
  phase: string;
  percent: number;
}

export const poolJobId = (poolId: string) => `pool-${poolId}`;
export const copyJobId = (licenceId: string) => `copy-${licenceId}`;
export const poolContext = (poolId: string) => `pool:${poolId}`;
export const copyContext = (licenceId: string) => `copy:${licenceId}`;

/** Cancellation reaches a running job through this Redis channel (message = job id) and, for a job a worker picks up later, this key. */
export const cancelChannel = (prefix: string) => `${prefix}:${EMBEDDING_QUEUE}:cancel`;
export const cancelKey = (prefix: string, jobId: string) => `${prefix}:${EMBEDDING_QUEUE}:cancelled:${jobId}`;
/** How long a cancel mark outlives the request: longer than any job waits in the queue. */
export const CANCEL_MARK_SECONDS = 7 * 24 * 3600;

/** Options every job gets; attempts and backoff come from distribution's settings. */
export function jobOptions(jobId: string, attempts: number, backoffMs: number): JobsOptions {
  return {
    jobId,
    attempts,
    backoff: { type: 'exponential', delay: backoffMs },
    // Finished jobs stay inspectable for a week, then BullMQ drops them; distribution keeps the record.
    removeOnComplete: { age: 7 * 24 * 3600 },
    removeOnFail: { age: 30 * 24 * 3600 },
  };
}

/** BullMQ connection options from a redis:// URL; workers need maxRetriesPerRequest null. */
export function redisConnection(url: string): ConnectionOptions {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    maxRetriesPerRequest: null,
  };
}
