import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ApiError, type ClopenClient, type LocalFile, type Version, type VersionMetadata } from './client';
import { UsageError } from './errors';

export interface UploadProgress {
  phase(name: 'checksums' | 'upload', totalBytes: number): void;
  advance(bytes: number): void;
  done(): void;
}

export interface UploadResult {
  /** `published`: sent now; `already_published`: an earlier run had published the same files under this label. */
  outcome: 'published' | 'already_published';
  version: Version;
}

/**
 * The files of a model folder as storage takes them: every regular file at the top level (model
 * folders are flat), hidden files (.gitattributes, .DS_Store) left out.
 */
export async function readModelFolder(folder: string): Promise<LocalFile[]> {
  const dir = resolve(folder);
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw new UsageError(`cannot read the model folder ${folder}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const files: LocalFile[] = [];
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (e.name.startsWith('.')) continue;
    if (e.isDirectory())
      throw new UsageError(`${folder} holds a folder, ${e.name}; a model folder is flat (config.json, model.safetensors, tokenizer.json, … side by side)`);
    if (!e.isFile() && !(e.isSymbolicLink() && (await stat(join(dir, e.name))).isFile())) continue;
    if (/["\r\n]/.test(e.name)) throw new UsageError(`file name ${JSON.stringify(e.name)} cannot be uploaded; rename it`);
    files.push({ dir, path: e.name, size: (await stat(join(dir, e.name))).size, sha256: '' });
  }
  if (!files.length) throw new UsageError(`${folder} has no files to upload`);
  return files;
}

/**
 * Publishes a folder as a version of a model. Storage takes a version in one request and keeps
 * nothing of an interrupted one, so the unit of resumption is the version: running the same
 * command again after an interruption sends the folder again, and a run that finds the label
 * already published with exactly these files (the previous run got through, only its answer was
 * lost) reports that version instead of failing.
 */
export async function uploadFolder(
  client: ClopenClient,
  modelId: string,
  folder: string,
  meta: Omit<VersionMetadata, 'files'>,
  progress: UploadProgress,
): Promise<UploadResult> {
  const files = await readModelFolder(folder);
  const total = files.reduce((n, f) => n + f.size, 0);
  progress.phase('checksums', total);
  for (const f of files) f.sha256 = await sha256File(join(f.dir, f.path), (n) => progress.advance(n));
  progress.done();

  const published = async () => (await client.listVersions(modelId)).find((v) => v.label === meta.label);
  const earlier = await published();
  if (earlier) return { outcome: 'already_published', version: sameFilesOrFail(earlier, files) };

  const declared = files.map(({ path, size, sha256 }) => ({ path, size, sha256 }));
  progress.phase('upload', total);
  try {
    const version = await client.publishVersion(modelId, { ...meta, files: declared }, files, (n) => progress.advance(n));
    return { outcome: 'published', version };
  } catch (e) {
    if (e instanceof ApiError && e.status === 0) {
      // The answer was lost: storage may have published the version all the same.
      const after = await published().catch(() => undefined);
      if (after) return { outcome: 'published', version: sameFilesOrFail(after, files) };
      throw new ApiError(
        e.service,
        0,
        e.code,
        `${e.message}\nthe upload was interrupted and storage kept none of it; run the same command again to upload ${folder} again`,
      );
    }
    if (e instanceof ApiError && e.status === 409) {
      // Another run published the label in the meantime.
      const after = await published().catch(() => undefined);
      if (after) return { outcome: 'already_published', version: sameFilesOrFail(after, files) };
    }
    throw e;
  } finally {
    progress.done();
  }
}

function sameFilesOrFail(version: Version, files: LocalFile[]): Version {
  const key = (f: { path: string; size: number; sha256: string }) => `${f.path}\0${f.size}\0${f.sha256}`;
  const theirs = version.files.map(key).sort();
  const ours = files.map(key).sort();
  if (theirs.length === ours.length && theirs.every((k, i) => k === ours[i])) return version;
  throw new ApiError(
    'storage',
    409,
    'conflict',
    `storage: model ${version.modelId} already has version ${JSON.stringify(version.label)} (${version.id}) with other files; versions are immutable, upload under a new --label`,
  );
}

export async function sha256File(path: string, onBytes?: (n: number) => void): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    onBytes?.((chunk as Buffer).length);
  }
  return hash.digest('hex');
}
