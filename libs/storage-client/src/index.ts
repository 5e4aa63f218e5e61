export { StorageClient, StorageRequestError, downloadChecked, sha256File, type StoredVersion, type NewVersion, type PresignedFile } from './storage-client';
