import { z } from 'zod';
import { baseSettings, busSettings, databaseSettings, redisSettings, setting, type loadConfig } from '@clopen/config';
import { keyRingSetting } from '@clopen/embedding-jobs';

const probability = z.coerce.number({ message: 'must be a number' }).gt(0).lt(1);

export const distributionSettings = {
  ...baseSettings,
  ...databaseSettings,
  ...busSettings,
  ...redisSettings,
  /** Keys that seal fingerprint pools at rest, `id:base64key[,…]` (32-byte keys); the first seals, all open. */
  DISTRIBUTION_POOL_KEYS: keyRingSetting,
  /** Keys shared with the embedders that seal secrets inside queue jobs; never the pool keys. */
  EMBEDDING_JOB_KEYS: keyRingSetting,
  /** Storage's REST API and a key with the admin role there (reads base versions, presigns copies). */
  STORAGE_URL: setting.url(['http', 'https']),
  STORAGE_API_KEY: setting.secret(16),
  /** A host's stake on a chain model (HostCollateral, in token base units) that licenses it for the model's newest committed version. */
  DISTRIBUTION_CHAIN_MIN_STAKE: z
    .string()
    .regex(/^\d+$/, 'must be a whole number of token base units')
    .default('1')
    .transform((v) => BigInt(v)),
  /** Prefix of the BullMQ keys in Redis; the embedders must use the same one. */
  BULLMQ_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_:-]+$/, 'must be letters, digits, _, : or -')
    .default('clopen'),
  /** Attempts of one embedding job before it fails for good, and the first retry's delay (doubling after). */
  EMBEDDING_ATTEMPTS: setting.positiveInt.max(20).default(3),
  EMBEDDING_BACKOFF_MS: setting.positiveInt.default(30_000),
  /** A copy recalling fewer of its fingerprints than this is not stored. */
  EMBEDDING_MIN_RECALL: probability.default(0.98),
  /** How often job states are reconciled with the queue (events that were missed while down). */
  EMBEDDING_RECONCILE_MS: setting.positiveInt.default(15_000),
  /** Life of the download URLs a host is handed for its copy. */
  DELIVERY_URL_TTL_SECONDS: setting.positiveInt.max(3600).default(300),
  /** Longest validity a host may give a signed request; signatures valid longer are refused. */
  HOST_AUTH_MAX_TTL_SECONDS: setting.positiveInt.max(3600).default(300),
  /** eps: probability that a trace accuses any innocent host. */
  TRACE_FALSE_ACCUSATION: probability.default(1e-6),
  /** p0: assumed rate at which a model answers a key it does not hold with its secret response. */
  TRACE_NULL_RATE: probability.default(1e-3),
};

export type DistributionConfig = ReturnType<typeof loadConfig<typeof distributionSettings>>;
