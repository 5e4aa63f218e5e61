export { buildProgram, run, type App } from './program';
export { ClopenClient, ApiError, type ClientConfig, type ServiceName } from './client';
export type { CliIo } from './io';
export { processIo } from './io';
export { uploadFolder, readModelFolder, type UploadResult } from './upload';
