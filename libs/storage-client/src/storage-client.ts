import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, openAsBlob } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { ApiProblem, apiClient, call, type StoragePaths, type StorageSchemas } from '@clopen/api-client';

/** A version as storage's REST API returns it (generated from storage's OpenAPI document). */
export type StoredVersion = StorageSchemas['VersionDto'];
export type PresignedFile = StorageSchemas['PresignedUrlDto'];

/** What a new version declares of itself (storage's upload metadata, without the files this client lists). */
export type NewVersion = Omit<StorageSchemas['UploadMetadataDto'], 'files'>;

/**
 * Storage's REST API for other services: the generated typed client for the JSON calls, plus the
 * checked transfers (downloads compared with storage's sizes and digests, uploads streamed from disk).
 * Errors are ApiProblems with storage's status and code (404 not_found, 409 conflict, …).
 */
export class StorageClient {
  readonly api;

  constructor(url: string, apiKey: string) {
    this.api = apiClient<StoragePaths>(url, { service: 'storage', apiKey });
  }

  getVersion(id: string): Promise<StoredVersion> {
    return call(this.api.GET('/versions/{id}', { params: { path: { id } } }));
  }

  listVersions(modelId: string): Promise<StoredVersion[]> {
    return call(this.api.GET('/models/{id}/versions', { params: { path: { id: modelId } } }));
  }

  async findVersion(modelId: string, label: string): Promise<StoredVersion | undefined> {
    return (await this.listVersions(modelId)).find((v) => v.label === label);
  }

  presignedUrl(versionId: string, path: string, ttlSeconds?: number): Promise<PresignedFile> {
    return call(this.api.GET('/versions/{id}/files/{path}/url', { params: { path: { id: versionId, path }, query: ttlSeconds ? { ttlSeconds } : {} } }));
  }

  /**
   * Downloads every file of a version into `dir` straight from S3, checking each file's size and
   * sha256 against storage's record; a file that does not match is deleted and the call fails.
   */
  async downloadVersion(versionId: string, dir: string, onFile?: (path: string, index: number, count: number) => void): Promise<StoredVersion> {
    const version = await this.getVersion(versionId);
    await mkdir(dir, { recursive: true });
    for (const [i, file] of version.files.entries()) {
      onFile?.(file.path, i, version.files.length);
      const { url } = await this.presignedUrl(versionId, file.path);
      await downloadChecked(url, file, dir, `version ${versionId}`);
    }
    return version;
  }

  /**
   * Publishes the files of `folder` as a new version of `modelId`: one multipart request whose
   * file parts are read from disk as they are sent (file-backed Blobs), with sizes and sha256s declared up front.
   */
  async uploadVersion(modelId: string, folder: string, files: string[], meta: NewVersion): Promise<StoredVersion> {
    const declared: { path: string; size: number; sha256: string }[] = [];
    for (const path of files) {
      const full = join(folder, path);
      declared.push({ path, size: (await stat(full)).size, sha256: await sha256File(full) });
    }
    const form = new FormData();
    form.append('metadata', JSON.stringify({ ...meta, files: declared }));
    for (const path of files) form.append('file', await openAsBlob(join(folder, path)), path);
    return call(this.api.POST('/models/{id}/versions', { params: { path: { id: modelId } }, body: form as never, bodySerializer: (b) => b as FormData }));
  }
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Downloads one artefact file from a (presigned) URL into `dir`, checking its size and sha256 on
 * the way; a mismatch leaves nothing behind (ApiProblem corrupt_artefact).
 */
export async function downloadChecked(url: string, file: { path: string; size: number; sha256: string }, dir: string, of: string): Promise<void> {
  const res = await fetch(url);
  if (!res.ok || !res.body) throw new ApiProblem('storage', res.status, 'download_failed', `downloading ${file.path} of ${of} failed: HTTP ${res.status}`);
  const hash = createHash('sha256');
  let size = 0;
  const partial = join(dir, `.${file.path}.part`);
  try {
    await pipeline(
      Readable.fromWeb(res.body as never),
      new Transform({
        transform(chunk: Buffer, _enc, done) {
          hash.update(chunk);
          size += chunk.length;
          done(null, chunk);
        },
      }),
      createWriteStream(partial),
    );
    const sha256 = hash.digest('hex');
    if (size !== file.size || sha256 !== file.sha256) {
      throw new ApiProblem(
        'storage',
        422,
        'corrupt_artefact',
        `artefact ${file.path} of ${of} is corrupt: expected ${file.size} bytes with sha256 ${file.sha256}, got ${size} bytes with sha256 ${sha256}`,
      );
    }
    await rename(partial, join(dir, file.path));
  } finally {
    await rm(partial, { force: true });
  }
}
