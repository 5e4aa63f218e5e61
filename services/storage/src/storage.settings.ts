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
};

export type StorageConfig = ReturnType<typeof loadConfig<typeof storageSettings>>;
