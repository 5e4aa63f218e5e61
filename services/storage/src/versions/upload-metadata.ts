import { UploadRejected } from '../storage.errors';
import type { z } from 'zod';
import { VERSION_KINDS } from './version.entity';
import type { UploadMetadataSchema } from './versions.contracts';

/** The `metadata` field that opens an upload form, before any file part (its contract: UploadMetadataSchema), with its defaults filled in. */
export type UploadMetadata = Required<z.infer<typeof UploadMetadataSchema>>;

const LABEL = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SHA256 = /^[0-9a-f]{64}$/;

const bad = (message: string) => new UploadRejected('invalid_metadata', message);

/** Parses and checks the metadata field; parents' existence is checked against the database later. */
export function parseUploadMetadata(text: string): UploadMetadata {
  let raw: any;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw bad(`metadata is not valid JSON: ${(e as Error).message}`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw bad('metadata must be a JSON object');
  const { label, kind, parents = [], licence = {}, files } = raw;
  if (typeof label !== 'string' || !LABEL.test(label)) throw bad('label must be 1-64 characters of letters, digits and ._+- (e.g. "1.0.0")');
  if (!VERSION_KINDS.includes(kind)) throw bad(`kind must be one of ${VERSION_KINDS.join(', ')}`);
  if (!Array.isArray(parents) || !parents.every((p) => typeof p === 'string' && UUID.test(p))) throw bad('parents must be an array of version ids (uuids)');
  if (new Set(parents).size !== parents.length) throw bad('parents lists a version twice');
  if (kind === 'base' && parents.length) throw bad('a base version has no parents');
  if (['finetune', 'oml', 'quantized'].includes(kind) && parents.length !== 1) throw bad(`a ${kind} version has exactly one parent`);
  if (kind === 'merge' && parents.length < 2) throw bad('a merge version has at least two parents');
  if (!licence || typeof licence !== 'object' || Array.isArray(licence)) throw bad('licence must be a JSON object with the licence terms');
  if (JSON.stringify(licence).length > 64 * 1024) throw bad('licence terms must be at most 64 KiB of JSON');
  if (!Array.isArray(files) || files.length === 0) throw bad('files must list every file of the folder: [{"path", "size", "sha256"}]');
  if (files.length > 1000) throw bad('a version has at most 1000 files');
  const seen = new Set<string>();
  for (const f of files) {
    if (!f || typeof f.path !== 'string') throw bad('each file needs a path');
    if (!Number.isSafeInteger(f.size) || f.size < 0) throw bad(`file ${f.path}: size must be a non-negative integer number of bytes`);
    if (typeof f.sha256 !== 'string' || !SHA256.test(f.sha256)) throw bad(`file ${f.path}: sha256 must be 64 lower-case hex digits`);
    if (seen.has(f.path)) throw new UploadRejected('duplicate_file', `file ${f.path} is listed twice in metadata`);
    seen.add(f.path);
  }
  return { label, kind, parents, licence, files: files.map((f: any) => ({ path: f.path, size: f.size, sha256: f.sha256 })) };
}
