export { StorageClient, downloadChecked, sha256File, type StoredVersion, type NewVersion, type PresignedFile } from './storage-client';
export { ApiProblem } from '@clopen/api-client';
