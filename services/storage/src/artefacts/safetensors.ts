import { ArtefactRejected } from './artefact.errors';

/**
 * The safetensors format (https://github.com/huggingface/safetensors):
 *   8 bytes   little-endian u64 N, the header length
 *   N bytes   UTF-8 JSON object: tensor name -> { dtype, shape, data_offsets: [begin, end] },
 *             plus an optional "__metadata__": { string: string }; may be padded with spaces
 *   rest      the tensor data; offsets are relative to its start and must tile it exactly.
 */

export const SAFETENSORS_DTYPE_SIZES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
} as const;

export type SafetensorsDtype = keyof typeof SAFETENSORS_DTYPE_SIZES;

export const DEFAULT_MAX_SAFETENSORS_HEADER_BYTES = 100 * 1024 * 1024;

const LENGTH_PREFIX_BYTES = 8;
const METADATA_KEY = '__metadata__';

export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  /** [begin, end) relative to the start of the data section. */
  dataOffsets: [number, number];
}

export interface SafetensorsHeader {
  tensorCount: number;
  tensors: Record<string, SafetensorsTensor>;
  metadata: Record<string, string> | null;
}

export interface SafetensorsSummary extends SafetensorsHeader {
  headerLength: number;
  /** Bytes of tensor data, i.e. the largest data offset. */
  dataLength: number;
  /** 8 + headerLength + dataLength: the only valid file size. */
  fileSize: number;
}

export interface SafetensorsParserOptions {
  /** File name, used in error messages. */
  path: string;
  /** Size the client declared for the file; lets a lying header be refused before its bytes arrive. */
  declaredSize?: number;
  maxHeaderBytes?: number;
}

function isDtype(value: unknown): value is SafetensorsDtype {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(SAFETENSORS_DTYPE_SIZES, value);
}

function isNonNegativeSafeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Number of elements of a tensor with this shape (1 for a scalar). */
export function elementCount(shape: readonly number[]): bigint {
  return shape.reduce((product, dim) => product * BigInt(dim), 1n);
}

/**
 * Incremental parser: feed it the file in chunks of any size, then call end(). It buffers the header
 * only; tensor data is counted, never kept. Throws ArtefactRejected as soon as the bytes seen so far
 * prove the file invalid.
 */
export class SafetensorsParser {
  private readonly path: string;
  private readonly declaredSize?: number;
  private readonly maxHeaderBytes: number;

  private phase: 'length' | 'header' | 'data' = 'length';
  private readonly lengthPrefix = Buffer.alloc(LENGTH_PREFIX_BYTES);
  private lengthPrefixFilled = 0;
  private headerLength = 0;
  /** Grows by doubling up to headerLength, so a huge declared header costs memory only as bytes arrive. */
  private headerBytes = Buffer.alloc(0);
  private headerFilled = 0;
  private header?: SafetensorsHeader;
  private dataLength = 0;
  private dataSeen = 0;
  private ended = false;

  constructor(options: SafetensorsParserOptions) {
    this.path = options.path;
    this.declaredSize = options.declaredSize;
    this.maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_SAFETENSORS_HEADER_BYTES;
  }

  write(chunk: Uint8Array): void {
    if (this.ended) throw new Error('SafetensorsParser.write called after end()');
    let offset = 0;
    while (offset < chunk.length) {
      if (this.phase === 'length') {
        const take = Math.min(LENGTH_PREFIX_BYTES - this.lengthPrefixFilled, chunk.length - offset);
        this.lengthPrefix.set(chunk.subarray(offset, offset + take), this.lengthPrefixFilled);
        this.lengthPrefixFilled += take;
        offset += take;
        if (this.lengthPrefixFilled === LENGTH_PREFIX_BYTES) this.acceptHeaderLength();
      } else if (this.phase === 'header') {
        const take = Math.min(this.headerLength - this.headerFilled, chunk.length - offset);
        this.reserveHeader(this.headerFilled + take);
        // Copy: the caller may reuse its buffer, and we hold on to these bytes.
        this.headerBytes.set(chunk.subarray(offset, offset + take), this.headerFilled);
        this.headerFilled += take;
        offset += take;
        if (this.headerFilled === this.headerLength) this.acceptHeader();
      } else {
        const take = chunk.length - offset;
        this.dataSeen += take;
        offset += take;
        if (this.dataSeen > this.dataLength) {
          throw this.corrupt(
            `the file continues past the end of its last tensor (${this.fileSizeImplied()} bytes)`,
          );
        }
      }
    }
  }

  /** Call once all bytes were written; returns what the file holds or throws ArtefactRejected. */
  end(): SafetensorsSummary {
    this.ended = true;
    if (this.phase === 'length') {
      throw this.truncated(`it ended after ${this.lengthPrefixFilled} bytes, inside the 8-byte header length`);
    }
    if (this.phase === 'header') {
      throw this.truncated(
        `it ended ${this.headerLength - this.headerFilled} bytes short of the ${this.headerLength}-byte header`,
      );
    }
    if (this.dataSeen < this.dataLength) {
      throw this.truncated(
        `its header describes ${this.fileSizeImplied()} bytes but only ` +
          `${LENGTH_PREFIX_BYTES + this.headerLength + this.dataSeen} arrived`,
      );
    }
    const header = this.header as SafetensorsHeader;
    return {
      ...header,
      headerLength: this.headerLength,
      dataLength: this.dataLength,
      fileSize: this.fileSizeImplied(),
    };
  }

  private fileSizeImplied(): number {
    return LENGTH_PREFIX_BYTES + this.headerLength + this.dataLength;
  }

  private acceptHeaderLength(): void {
    const length = this.lengthPrefix.readBigUInt64LE(0);
    if (length === 0n) throw this.corrupt('the header length is 0');
    if (length > BigInt(this.maxHeaderBytes)) {
      throw this.corrupt(`the header length ${length} exceeds the ${this.maxHeaderBytes}-byte limit`);
    }
    if (this.declaredSize !== undefined && length > BigInt(this.declaredSize - LENGTH_PREFIX_BYTES)) {
      throw this.corrupt(`the header length ${length} is larger than the declared file size ${this.declaredSize}`);
    }
    this.headerLength = Number(length);
    this.phase = 'header';
  }

  private reserveHeader(needed: number): void {
    if (needed <= this.headerBytes.length) return;
    const size = Math.min(this.headerLength, Math.max(needed, this.headerBytes.length * 2, 64 * 1024));
    const grown = Buffer.allocUnsafe(size);
    this.headerBytes.copy(grown, 0, 0, this.headerFilled);
    this.headerBytes = grown;
  }

  private acceptHeader(): void {
    const bytes = this.headerBytes.subarray(0, this.headerLength);
    this.headerBytes = Buffer.alloc(0);
    this.header = parseSafetensorsHeader(bytes, this.path);
    this.dataLength = dataLengthOf(this.header, this.path);
    this.phase = 'data';
    if (this.declaredSize !== undefined && this.fileSizeImplied() !== this.declaredSize) {
      throw this.corrupt(
        `its header describes ${this.fileSizeImplied()} bytes but the declared file size is ${this.declaredSize}`,
      );
    }
  }

  private corrupt(why: string): ArtefactRejected {
    return corrupt(this.path, why);
  }

  private truncated(why: string): ArtefactRejected {
    return new ArtefactRejected(
      'truncated',
      `artefact ${this.path} is truncated: ${why}; re-upload the complete file`,
      this.path,
    );
  }
}

function corrupt(path: string, why: string): ArtefactRejected {
  return new ArtefactRejected(
    'corrupt_safetensors',
    `artefact ${path} is not a valid safetensors file: ${why}; re-export it with the safetensors library and re-upload`,
    path,
  );
}

/** Parses and validates the JSON header (the N bytes after the length prefix). */
export function parseSafetensorsHeader(bytes: Uint8Array, path: string): SafetensorsHeader {
  if (bytes[0] !== 0x7b) throw corrupt(path, 'the header does not start with "{"');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw corrupt(path, 'the header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw corrupt(path, `the header is not valid JSON (${(error as Error).message})`);
  }
  if (!isPlainObject(json)) throw corrupt(path, 'the header is not a JSON object');

  let metadata: Record<string, string> | null = null;
  const tensors: [string, SafetensorsTensor][] = [];
  for (const [name, entry] of Object.entries(json)) {
    if (name === METADATA_KEY) {
      metadata = parseMetadata(entry, path);
      continue;
    }
    tensors.push([name, parseTensor(name, entry, path)]);
  }
  // Object.fromEntries defines own properties, so a tensor named "__proto__" stays a tensor.
  return { tensorCount: tensors.length, tensors: Object.fromEntries(tensors), metadata };
}

function parseMetadata(entry: unknown, path: string): Record<string, string> {
  if (!isPlainObject(entry)) throw corrupt(path, '"__metadata__" is not an object');
  for (const [key, value] of Object.entries(entry)) {
    if (typeof value !== 'string') {
      throw corrupt(path, `"__metadata__.${key}" is not a string (metadata values must be strings)`);
    }
  }
  return Object.fromEntries(Object.entries(entry)) as Record<string, string>;
}

function parseTensor(name: string, entry: unknown, path: string): SafetensorsTensor {
  const label = `tensor ${JSON.stringify(name)}`;
  if (!isPlainObject(entry)) throw corrupt(path, `${label} is not an object`);
  const { dtype, shape, data_offsets: offsets } = entry;
  if (!isDtype(dtype)) {
    throw corrupt(
      path,
      `${label} has unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(SAFETENSORS_DTYPE_SIZES).join(', ')})`,
    );
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeSafeInteger)) {
    throw corrupt(path, `${label} has shape ${JSON.stringify(shape)}, not an array of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeSafeInteger)) {
    throw corrupt(path, `${label} has data_offsets ${JSON.stringify(offsets)}, not [begin, end] integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw corrupt(path, `${label} has data_offsets [${begin}, ${end}] that end before they begin`);
  const expected = elementCount(shape) * BigInt(SAFETENSORS_DTYPE_SIZES[dtype]);
  if (BigInt(end - begin) !== expected) {
    throw corrupt(
      path,
      `${label} (${dtype}, shape [${shape.join(', ')}]) needs ${expected} bytes but data_offsets ` +
        `[${begin}, ${end}] hold ${end - begin}`,
    );
  }
  return { dtype, shape: [...shape], dataOffsets: [begin, end] };
}

/** Checks the tensors tile the data section from 0 without gaps or overlaps; returns its length. */
function dataLengthOf(header: SafetensorsHeader, path: string): number {
  const ranges = Object.entries(header.tensors)
    .map(([name, tensor]) => ({ name, begin: tensor.dataOffsets[0], end: tensor.dataOffsets[1] }))
    .sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expectedBegin = 0;
  let previous = '';
  for (const range of ranges) {
    if (range.begin > expectedBegin) {
      throw corrupt(
        path,
        `bytes ${expectedBegin}..${range.begin} of the data belong to no tensor ` +
          `(gap before tensor ${JSON.stringify(range.name)})`,
      );
    }
    if (range.begin < expectedBegin) {
      throw corrupt(
        path,
        `tensor ${JSON.stringify(range.name)} at [${range.begin}, ${range.end}] overlaps ` +
          `tensor ${JSON.stringify(previous)} which ends at ${expectedBegin}`,
      );
    }
    expectedBegin = range.end;
    previous = range.name;
  }
  return expectedBegin;
}

/** Parses a whole file held in memory; for tests, fixtures and small files. */
export function parseSafetensors(bytes: Uint8Array, options: SafetensorsParserOptions): SafetensorsSummary {
  const parser = new SafetensorsParser(options);
  parser.write(bytes);
  return parser.end();
}

export interface SafetensorsInput {
  dtype: SafetensorsDtype;
  shape: number[];
  data: Buffer;
}

/**
 * Serialises tensors to safetensors bytes, laid out in the given order, with the header padded by
 * spaces to a multiple of 8 bytes as the reference implementation does. For fixtures, tests and
 * benchmarks; it refuses to write an invalid file.
 */
export function encodeSafetensors(
  tensors: Record<string, SafetensorsInput>,
  metadata?: Record<string, string>,
): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header[METADATA_KEY] = metadata;
  let offset = 0;
  const data: Buffer[] = [];
  for (const [name, tensor] of Object.entries(tensors)) {
    if (name === METADATA_KEY) throw new Error(`encodeSafetensors: "${METADATA_KEY}" is not a tensor name`);
    const size = elementCount(tensor.shape) * BigInt(SAFETENSORS_DTYPE_SIZES[tensor.dtype]);
    if (BigInt(tensor.data.length) !== size) {
      throw new Error(
        `encodeSafetensors: tensor ${name} (${tensor.dtype} [${tensor.shape.join(', ')}]) needs ` +
          `${size} bytes, got ${tensor.data.length}`,
      );
    }
    Object.defineProperty(header, name, {
      value: { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [offset, offset + tensor.data.length] },
      enumerable: true,
      writable: true,
      configurable: true,
    });
    offset += tensor.data.length;
    data.push(tensor.data);
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Buffer.alloc(Math.ceil(json.length / 8) * 8, 0x20);
  json.copy(padded);
  const prefix = Buffer.alloc(LENGTH_PREFIX_BYTES);
  prefix.writeBigUInt64LE(BigInt(padded.length));
  return Buffer.concat([prefix, padded, ...data]);
}
