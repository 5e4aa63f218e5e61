export { StorageClient, StorageRequestError, type StoredVersion, type NewVersion, type PresignedFile } from './storage-client';
