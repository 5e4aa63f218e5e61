/**
 * Whole-buffer safetensors reading and writing for the files the engine exchanges
 * (https://github.com/huggingface/safetensors): an 8-byte little-endian header length N, N bytes of
 * JSON header (tensor name -> { dtype, shape, data_offsets }, optional "__metadata__" of strings),
 * then the tensor data, which the offsets must tile exactly.
 */

const DTYPE_BYTES = {
  BOOL: 1, U8: 1, I8: 1, F8_E4M3: 1, F8_E5M2: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
} as const;

export type SafetensorsDtype = keyof typeof DTYPE_BYTES;

export interface Tensor {
  dtype: SafetensorsDtype;
  shape: number[];
  /** Raw little-endian elements; readSafetensors returns views into the input buffer, not copies. */
  data: Buffer;
}

export interface SafetensorsFile {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

const METADATA = '__metadata__';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isDtype(value: unknown): value is SafetensorsDtype {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, value);
}

/** Bytes a tensor of this dtype and shape occupies; throws on a bad dtype or shape. */
function byteLength(label: string, dtype: unknown, shape: unknown): number {
  if (!isDtype(dtype)) {
    throw new SafetensorsError(`${label} has dtype ${JSON.stringify(dtype)}; known: ${Object.keys(DTYPE_BYTES).join(', ')}`);
  }
  if (!Array.isArray(shape) || !shape.every(isIndex)) {
    throw new SafetensorsError(`${label} has shape ${JSON.stringify(shape)}, not an array of non-negative integers`);
  }
  const bytes = shape.reduce((n: number, dim: number) => n * dim, DTYPE_BYTES[dtype]);
  if (!Number.isSafeInteger(bytes)) throw new SafetensorsError(`${label} with shape [${shape.join(', ')}] is too large`);
  return bytes;
}

function parseMetadata(value: unknown): Record<string, string> {
  if (!isObject(value)) throw new SafetensorsError('"__metadata__" is not an object');
  for (const [key, text] of Object.entries(value)) {
    if (typeof text !== 'string') throw new SafetensorsError(`"__metadata__.${key}" is not a string`);
  }
  return Object.fromEntries(Object.entries(value)) as Record<string, string>;
}

/** Reads a whole safetensors file held in memory; throws SafetensorsError saying what is wrong. */
export function readSafetensors(buf: Buffer): SafetensorsFile {
  if (buf.length < 8) throw new SafetensorsError(`safetensors data is ${buf.length} bytes, shorter than its 8-byte header length`);
  const declared = buf.readBigUInt64LE(0);
  if (declared === 0n || declared > BigInt(buf.length - 8)) {
    throw new SafetensorsError(`safetensors header length ${declared} does not fit the ${buf.length}-byte buffer`);
  }
  const headerEnd = 8 + Number(declared);
  // The format requires it; JSON.parse alone would also take leading whitespace.
  if (buf[8] !== 0x7b) throw new SafetensorsError('safetensors header does not start with "{"');
  let header: Record<string, unknown>;
  try {
    // Valid JSON that starts with "{" is an object.
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, headerEnd)));
  } catch (error) {
    throw new SafetensorsError(`safetensors header is not UTF-8 JSON (${(error as Error).message})`);
  }

  const data = buf.subarray(headerEnd);
  let metadata: Record<string, string> = {};
  const entries: [string, Tensor, number, number][] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === METADATA) {
      metadata = parseMetadata(entry);
      continue;
    }
    const label = `tensor ${JSON.stringify(name)}`;
    if (!isObject(entry)) throw new SafetensorsError(`${label} is not an object`);
    const size = byteLength(label, entry.dtype, entry.shape);
    const offsets = entry.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex)) {
      throw new SafetensorsError(`${label} has data_offsets ${JSON.stringify(offsets)}, not [begin, end]`);
    }
    const [begin, end] = offsets as [number, number];
    if (end - begin !== size) {
      throw new SafetensorsError(`${label} needs ${size} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`);
    }
    const tensor = { dtype: entry.dtype as SafetensorsDtype, shape: [...(entry.shape as number[])], data: data.subarray(begin, end) };
    entries.push([name, tensor, begin, end]);
  }

  // The offsets must tile the data section: no gap, no overlap, nothing after the last tensor.
  let expected = 0;
  for (const [name, , begin, end] of [...entries].sort((a, b) => a[2] - b[2] || a[3] - b[3])) {
    if (begin !== expected) {
      throw new SafetensorsError(
        `tensor ${JSON.stringify(name)} starts at data byte ${begin}, expected ${expected} (${begin > expected ? 'a gap' : 'an overlap'})`,
      );
    }
    expected = end;
  }
  if (expected !== data.length) {
    throw new SafetensorsError(`safetensors tensors describe ${expected} data bytes but ${data.length} follow the header`);
  }
  // fromEntries defines own properties, so a tensor named "__proto__" stays a tensor.
  return { tensors: Object.fromEntries(entries.map(([name, tensor]) => [name, tensor])), metadata };
}

/**
 * Serialises tensors in name order with "__metadata__" first and the header padded with spaces to a
 * multiple of 8 bytes, as python/clopen_fp/st.py does.
 */
export function writeSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header[METADATA] = parseMetadata(metadata);
  const blobs: Buffer[] = [];
  let offset = 0;
  for (const name of Object.keys(tensors).sort()) {
    if (name === METADATA) throw new SafetensorsError(`"${METADATA}" cannot be a tensor name`);
    const { dtype, shape, data } = tensors[name];
    const size = byteLength(`tensor ${JSON.stringify(name)}`, dtype, shape);
    if (data.length !== size) {
      throw new SafetensorsError(`tensor ${JSON.stringify(name)} (${dtype} [${shape.join(', ')}]) needs ${size} bytes, got ${data.length}`);
    }
    Object.defineProperty(header, name, {
      value: { dtype, shape, data_offsets: [offset, offset + size] },
      enumerable: true,
      writable: true,
      configurable: true,
    });
    blobs.push(data);
    offset += size;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Buffer.alloc(Math.ceil(json.length / 8) * 8, 0x20);
  json.copy(padded);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(padded.length));
  return Buffer.concat([length, padded, ...blobs]);
}
