import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { baseSettings, busSettings, databaseSettings, redisSettings, setting, type loadConfig } from '@clopen/config';
import { keyRingSetting } from '@clopen/embedding-jobs';

export const embedderSettings = {
  ...baseSettings,
  ...databaseSettings,
  ...busSettings,
  ...redisSettings,
  /** The key ring distribution seals job secrets with; the embedder never sees the pool keys. */
  EMBEDDING_JOB_KEYS: keyRingSetting,
  /** Storage's REST API and a key with the admin role there (downloads base versions, stores copies). */
  STORAGE_URL: setting.url(['http', 'https']),
  STORAGE_API_KEY: setting.secret(16),
  BULLMQ_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_:-]+$/, 'must be letters, digits, _, : or -')
    .default('clopen'),
  /** Jobs one worker process runs at once; scale out with more workers instead. */
  EMBEDDER_CONCURRENCY: setting.positiveInt.max(64).default(1),
  /** torch threads per job; defaults to the CPUs this process may use (set it to the container's CPU limit: a quota is not seen here). */
  EMBEDDER_THREADS: setting.positiveInt.max(256).default(availableParallelism()),
  /** Where jobs download base models and write copies; each job's folder is removed when it ends. */
  EMBEDDER_WORK_DIR: z.string().min(1).default(join(tmpdir(), 'clopen-embedder')),
  /** Largest base version (all files) this worker accepts: it needs that much disk twice over. */
  EMBEDDER_MAX_MODEL_BYTES: setting.bytes.default('20GiB'),
  /** An engine run longer than this is killed and the attempt fails. */
  EMBEDDER_JOB_TIMEOUT_MINUTES: setting.positiveInt.default(24 * 60),
  /** BullMQ lock: a worker that stops renewing it (died) loses the job to another after about this long. */
  EMBEDDER_LOCK_DURATION_MS: setting.positiveInt.min(1000).default(30_000),
  EMBEDDER_STALLED_INTERVAL_MS: setting.positiveInt.min(500).default(30_000),
  /** Times a job may lose its worker before it fails for good. */
  EMBEDDER_MAX_STALLED: setting.positiveInt.max(100).default(5),
  /** Embedding steps at most, batch size and how often recall is checked (engine settings). */
  /** Ship each copy with model.onnx beside its safetensors, for hosts serving it with onnxruntime (host-gateway). */
  EMBEDDER_ONNX: setting.bool.default('true'),
  EMBEDDER_MAX_STEPS: setting.positiveInt.default(3000),
  EMBEDDER_BATCH_SIZE: setting.positiveInt.default(64),
  EMBEDDER_CHECK_EVERY: setting.positiveInt.default(100),
  /** Progress is reported when it moved by at least this many percent (or the phase changed). */
  EMBEDDER_PROGRESS_STEP: z.coerce.number({ message: 'must be a number' }).min(0).max(100).default(5),
};

export type EmbedderConfig = ReturnType<typeof loadConfig<typeof embedderSettings>>;
