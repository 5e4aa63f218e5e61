import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { encodeSafetensors } from '../src/artefacts';

export interface FolderFile {
  path: string;
  data: Buffer;
}

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const config = (extra: Record<string, unknown> = {}) =>
  Buffer.from(JSON.stringify({ architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', n_embd: 8, n_layer: 1, vocab_size: 16, ...extra }));
const tokenizer = Buffer.from(JSON.stringify({ version: '1.0', model: { type: 'BPE', vocab: { a: 0, b: 1 }, merges: [] } }));
const f32 = (n: number) => randomBytes(n * 4);

/** A small but real model folder: config.json, tokenizer.json and one model.safetensors. */
export function singleFileFolder(): FolderFile[] {
  const weights = encodeSafetensors({
    'wte.weight': { dtype: 'F32', shape: [16, 8], data: f32(128) },
    'h.0.mlp.weight': { dtype: 'F32', shape: [8, 8], data: f32(64) },
  });
  return [
    { path: 'config.json', data: config() },
    { path: 'tokenizer.json', data: tokenizer },
    { path: 'model.safetensors', data: weights },
  ];
}

/** The same shape of model split over two shards with an index, as large models are published. */
export function shardedFolder(): FolderFile[] {
  const a = encodeSafetensors({ 'wte.weight': { dtype: 'F32', shape: [16, 8], data: f32(128) } });
  const b = encodeSafetensors({ 'h.0.mlp.weight': { dtype: 'BF16', shape: [8, 8], data: randomBytes(128) } });
  const index = {
    metadata: { total_size: 128 * 4 + 128 },
    weight_map: { 'wte.weight': 'model-00001-of-00002.safetensors', 'h.0.mlp.weight': 'model-00002-of-00002.safetensors' },
  };
  return [
    { path: 'config.json', data: config() },
    { path: 'model-00001-of-00002.safetensors', data: a },
    { path: 'model-00002-of-00002.safetensors', data: b },
    { path: 'model.safetensors.index.json', data: Buffer.from(JSON.stringify(index)) },
  ];
}

export interface VersionMeta {
  label: string;
  kind: string;
  parents?: string[];
  licence?: Record<string, unknown>;
}

/** The `metadata` field for a folder: sizes and checksums as the client computed them. */
export function metadataFor(files: FolderFile[], meta: VersionMeta, overrides: Partial<Record<string, { size?: number; sha256?: string }>> = {}) {
  return {
    label: meta.label,
    kind: meta.kind,
    parents: meta.parents ?? [],
    licence: meta.licence ?? { fee_per_1k_tokens: '0.01', commercial: false },
    files: files.map((f) => ({ path: f.path, size: f.data.length, sha256: sha256(f.data), ...overrides[f.path] })),
  };
}

export type Part = { name: 'metadata'; value: string } | { name: 'file'; filename: string; data: Buffer };

const BOUNDARY = '----clopen-test-boundary-7d1f';

function* encodeParts(parts: Part[]): Generator<Buffer> {
  for (const p of parts) {
    if (p.name === 'metadata') {
      yield Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="metadata"\r\nContent-Type: application/json\r\n\r\n${p.value}\r\n`);
    } else {
      yield Buffer.from(
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${p.filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
      );
      yield p.data;
      yield Buffer.from('\r\n');
    }
  }
  yield Buffer.from(`--${BOUNDARY}--\r\n`);
}

export interface HttpResult {
  status: number;
  body: any;
}

/**
 * Sends a multipart form with streaming (chunked) encoding. `cutAfterBytes` makes the client drop
 * the connection after that many bytes, like a network failure mid-upload.
 */
export function postMultipart(url: string, key: string, parts: Part[], { cutAfterBytes }: { cutAfterBytes?: number } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, authorization: `Bearer ${key}` } });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: any = text;
        try {
          body = JSON.parse(text);
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', (e) => (cutAfterBytes !== undefined ? resolve({ status: 0, body: String(e) }) : reject(e)));
    let sent = 0;
    for (const chunk of encodeParts(parts)) {
      if (cutAfterBytes !== undefined && sent + chunk.length >= cutAfterBytes) {
        req.write(chunk.subarray(0, cutAfterBytes - sent));
        setTimeout(() => req.destroy(), 50);
        return;
      }
      req.write(chunk);
      sent += chunk.length;
    }
    req.end();
  });
}

export function formFor(files: FolderFile[], metadata: object): Part[] {
  return [{ name: 'metadata', value: JSON.stringify(metadata) }, ...files.map((f) => ({ name: 'file' as const, filename: f.path, data: f.data }))];
}
