export { ConfigError, loadConfig, setting, parseBytes, baseSettings, databaseSettings, busSettings, redisSettings, s3Settings } from './config';
