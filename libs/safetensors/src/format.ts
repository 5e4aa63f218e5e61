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

export const LENGTH_PREFIX_BYTES = 8;
export const METADATA_KEY = '__metadata__';

/** A tensor as the header describes it. */
export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  /** [begin, end) relative to the start of the data section. */
  dataOffsets: [number, number];
}

/** A tensor with its bytes: what the writer takes and readSafetensors returns. */
export interface Tensor {
  dtype: SafetensorsDtype;
  shape: number[];
  /** Raw little-endian elements; readSafetensors returns views into its input, not copies. */
  data: Buffer;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isNonNegativeSafeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isDtype(value: unknown): value is SafetensorsDtype {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(SAFETENSORS_DTYPE_SIZES, value);
}

/** Number of elements of a tensor with this shape (1 for a scalar). */
export function elementCount(shape: readonly number[]): bigint {
  return shape.reduce((product, dim) => product * BigInt(dim), 1n);
}

/**
 * Bytes a tensor of this dtype and shape occupies. A bad dtype or shape is reported through `fail`,
 * so the reader and the writer phrase the same problem the same way inside their own errors.
 */
export function tensorByteLength(label: string, dtype: unknown, shape: unknown, fail: (reason: string) => Error): bigint {
  if (!isDtype(dtype)) {
    throw fail(`${label} has unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(SAFETENSORS_DTYPE_SIZES).join(', ')})`);
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeSafeInteger)) {
    throw fail(`${label} has shape ${JSON.stringify(shape)}, not an array of non-negative integers`);
  }
  return elementCount(shape) * BigInt(SAFETENSORS_DTYPE_SIZES[dtype]);
}

/** Checks every "__metadata__" value is a string; returns a copy. */
export function checkedMetadata(entry: unknown, fail: (reason: string) => Error): Record<string, string> {
  if (!isPlainObject(entry)) throw fail(`"${METADATA_KEY}" is not an object`);
  for (const [key, value] of Object.entries(entry)) {
    if (typeof value !== 'string') {
      throw fail(`"${METADATA_KEY}.${key}" is not a string (metadata values must be strings)`);
    }
  }
  return Object.fromEntries(Object.entries(entry)) as Record<string, string>;
}
