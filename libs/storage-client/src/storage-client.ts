import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, openAsBlob } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** A version as storage's REST API returns it. */
export interface StoredVersion {
  id: string;
  modelId: string;
  label: string;
  kind: 'base' | 'finetune' | 'oml' | 'quantized' | 'merge';
  parents: string[];
  licence: Record<string, unknown>;
  manifestSha256: string;
  totalBytes: number;
  publishedAt: string;
  files: { path: string; size: number; sha256: string; contentType: string }[];
}

export interface NewVersion {
  label: string;
  kind: StoredVersion['kind'];
  parents: string[];
  licence: Record<string, unknown>;
}

export interface PresignedFile {
  url: string;
  expiresAt: string;
  sha256: string;
  size: number;
}

/** Storage answered with an error; `status` and `code` are storage's (404 not_found, 409 conflict, …). */
export class StorageRequestError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
    this.name = 'StorageRequestError';
  }
}

export class StorageClient {
  private readonly base: string;

  constructor(url: string, private readonly apiKey: string) {
    this.base = url.replace(/\/+$/, '');
  }

  getVersion(id: string): Promise<StoredVersion> {
    return this.json('GET', `/versions/${encodeURIComponent(id)}`);
  }

  listVersions(modelId: string): Promise<StoredVersion[]> {
    return this.json('GET', `/models/${encodeURIComponent(modelId)}/versions`);
  }

  async findVersion(modelId: string, label: string): Promise<StoredVersion | undefined> {
    return (await this.listVersions(modelId)).find((v) => v.label === label);
  }

  presignedUrl(versionId: string, path: string, ttlSeconds?: number): Promise<PresignedFile> {
    const query = ttlSeconds ? `?ttlSeconds=${ttlSeconds}` : '';
    return this.json('GET', `/versions/${encodeURIComponent(versionId)}/files/${encodeURIComponent(path)}/url${query}`);
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
    return this.json('POST', `/models/${encodeURIComponent(modelId)}/versions`, form);
  }

  private async json<T>(method: string, path: string, body?: FormData): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, { method, headers: { authorization: `Bearer ${this.apiKey}` }, body, redirect: 'manual' });
    } catch (e) {
      throw new StorageRequestError(503, 'unavailable', `storage at ${this.base} is unreachable: ${(e as Error).message}`);
    }
    const text = await res.text();
    let parsed: any;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!res.ok) throw new StorageRequestError(res.status, parsed?.code ?? 'http_error', `storage ${method} ${path}: ${res.status} ${parsed?.detail ?? text.slice(0, 200)}`);
    return parsed as T;
  }
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Downloads one artefact file from a (presigned) URL into `dir`, checking its size and sha256 on
 * the way; a mismatch leaves nothing behind (StorageRequestError corrupt_artefact).
 */
export async function downloadChecked(url: string, file: { path: string; size: number; sha256: string }, dir: string, of: string): Promise<void> {
  const res = await fetch(url);
  if (!res.ok || !res.body) throw new StorageRequestError(res.status, 'download_failed', `downloading ${file.path} of ${of} failed: HTTP ${res.status}`);
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
      throw new StorageRequestError(422, 'corrupt_artefact', `artefact ${file.path} of ${of} is corrupt: expected ${file.size} bytes with sha256 ${file.sha256}, got ${size} bytes with sha256 ${sha256}`);
    }
    await rename(partial, join(dir, file.path));
  } finally {
    await rm(partial, { force: true });
  }
}
