import { z } from 'zod';

/** A setting is missing or malformed; the service must not start. */
export class ConfigError extends Error {
  constructor(readonly issues: { setting: string; problem: string }[]) {
    super('invalid configuration: ' + issues.map((i) => `${i.setting}: ${i.problem}`).join('; ') + ' (set these environment variables and start again)');
    this.name = 'ConfigError';
  }
}

/**
 * Parses `env` with the schema. Keys of the schema are environment variable names, so an error
 * names exactly the variable to fix.
 */
export function loadConfig<S extends z.ZodRawShape>(shape: S, env: NodeJS.ProcessEnv = process.env): z.infer<z.ZodObject<S>> {
  const parsed = z.object(shape).safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => ({
        setting: issue.path.join('.') || '(root)',
        problem: issue.message === 'Required' ? 'is required but not set' : issue.message,
      })),
    );
  }
  return parsed.data;
}

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' }).transform((v) => v === 'true' || v === '1' || v === 'yes');

const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol.replace(':', ''));
      } catch {
        return false;
      }
    },
    { message: `must be a URL with scheme ${protocols.join(' or ')}` },
  );

/** Reusable setting types, so every service spells a setting the same way. */
export const setting = {
  bool,
  url,
  port: z.coerce.number({ message: 'must be a port number' }).int().min(0).max(65535),
  positiveInt: z.coerce.number({ message: 'must be a number' }).int().positive(),
  nonNegativeInt: z.coerce.number({ message: 'must be a number' }).int().min(0),
  bytes: z
    .string()
    .regex(/^\d+(\.\d+)?\s*(B|KB|KiB|MB|MiB|GB|GiB|TB|TiB)?$/i, 'must be a size like 500MiB or 2GiB')
    .transform(parseBytes),
  secret: (min = 16) => z.string().min(min, `must be at least ${min} characters`),
};

const UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  kib: 1024,
  mb: 1e6,
  mib: 1024 ** 2,
  gb: 1e9,
  gib: 1024 ** 3,
  tb: 1e12,
  tib: 1024 ** 4,
};

export function parseBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  if (!m) throw new Error(`not a size: ${text}`);
  const unit = UNITS[(m[2] || 'b').toLowerCase()];
  if (unit === undefined) throw new Error(`unknown size unit in ${text}`);
  return Math.round(Number(m[1]) * unit);
}

/** Settings every service shares. */
export const baseSettings = {
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  HTTP_HOST: z.string().default('0.0.0.0'),
  HTTP_PORT: setting.port.default(3000),
  /** Bootstrap admin key; further keys are created through POST /api-keys. */
  ADMIN_API_KEY: setting.secret(24),
  SHUTDOWN_GRACE_MS: setting.positiveInt.default(10_000),
};

export const databaseSettings = {
  DATABASE_URL: url(['postgres', 'postgresql']),
  DATABASE_POOL_SIZE: setting.positiveInt.default(10),
  /**
   * `true`: the process applies the service's migrations and exits 0, and starts nothing else (a
   * migrations Job before an upgrade). It then reads DATABASE_URL only: no other setting is required.
   */
  MIGRATE_ONLY: bool.default('false'),
};

export const busSettings = {
  NATS_URL: z
    .string()
    .min(1)
    .refine((v) => v.split(',').every((s) => /^(nats|tls|ws|wss):\/\/[^\s]+$/.test(s.trim())), {
      message: 'must be one or more nats:// URLs separated by commas',
    }),
  /**
   * The user nkey seed this process authenticates to NATS with (infra/nats: one per service, one per
   * partner, from `npm run nats:credentials`); absent or empty: none, for a NATS without accounts
   * (laptop, tests).
   */
  NATS_NKEY_SEED: z.preprocess(
    (v) => (typeof v === 'string' && v.trim() === '' ? undefined : v),
    z
      .string()
      .trim()
      .regex(/^SU[A-Z2-7]{56}$/, 'must be a user nkey seed: SU followed by 56 base32 characters (npm run nats:credentials)')
      .optional(),
  ),
  /** Prefix for every subject and stream; empty in production, unique per test suite. */
  BUS_NAMESPACE: z
    .string()
    .regex(/^[a-z0-9_]*$/, 'must be lower-case letters, digits or _')
    .default(''),
  OUTBOX_RELAY_ENABLED: bool.default('true'),
  OUTBOX_RELAY_INTERVAL_MS: setting.positiveInt.default(1000),
  /** Outbox rows published per relay transaction (all in flight at once). */
  OUTBOX_RELAY_BATCH_SIZE: setting.positiveInt.max(10_000).default(500),
  /** Published outbox rows are kept this long, then deleted (a record only, once JetStream has them). */
  OUTBOX_RETENTION_HOURS: setting.positiveInt.default(168),
  /**
   * Records of handled messages (what makes a redelivery harmless) are kept this long; 0 (the default):
   * for ever. A durable that is lost and created again reads its stream from the start, and the
   * streams keep every message, so a record may go only once its stream no longer holds the message:
   * set it below a stream max_age, never alone.
   */
  PROCESSED_RETENTION_HOURS: setting.nonNegativeInt.default(0),
  /** Copies of each JetStream stream in a NATS cluster (3 in production; 1 on a single server). */
  BUS_STREAM_REPLICAS: setting.positiveInt.max(5).default(1),
};

export const redisSettings = {
  REDIS_URL: url(['redis', 'rediss']),
};

export const s3Settings = {
  S3_ENDPOINT: url(['http', 'https']),
  /** Endpoint that users' clients reach for presigned URLs; defaults to S3_ENDPOINT. */
  S3_PUBLIC_ENDPOINT: url(['http', 'https']).optional(),
  S3_REGION: z.string().default('us-east-1'),
  S3_ACCESS_KEY: z.string().min(3),
  S3_SECRET_KEY: z.string().min(3),
  S3_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid S3 bucket name'),
  /**
   * Multipart part size: an upload holds about three parts in memory, so this bounds memory per
   * concurrent upload. S3 needs at least 5 MiB; files over 10,000 parts get larger parts.
   */
  S3_PART_SIZE: setting.bytes.refine((n) => n >= 5 * 1024 * 1024 && n <= 5 * 1024 ** 3, 'must be between 5MiB and 5GiB').default('8MiB'),
};
