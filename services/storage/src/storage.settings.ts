import { z } from 'zod';
import { baseSettings, busSettings, databaseSettings, s3Settings, setting, type loadConfig } from '@clopen/config';

export const storageSettings = {
  ...baseSettings,
  ...databaseSettings,
  ...busSettings,
  ...s3Settings,
  /** Largest single file accepted in a model folder. */
  STORAGE_MAX_FILE_BYTES: setting.bytes.default('64GiB'),
  /** How long a presigned download URL stays valid. */
  STORAGE_PRESIGN_TTL_SECONDS: setting.positiveInt.max(7 * 24 * 3600).default(900),
  /** Objects of uncommitted versions and unfinished uploads older than this are removed. Longer than any upload takes. */
  STORAGE_ORPHAN_GRACE_MINUTES: z.coerce
    .number({ message: 'must be a number of minutes' })
    .int()
    .min(0)
    .default(24 * 60),
  /** How often each replica sweeps for orphans; 0 turns sweeping off. */
  STORAGE_SWEEP_INTERVAL_MINUTES: z.coerce.number({ message: 'must be a number of minutes' }).int().min(0).default(60),
};

export type StorageConfig = ReturnType<typeof loadConfig<typeof storageSettings>>;
