import { encodeSafetensors } from './writer';
import { SafetensorsParser, parseSafetensors, readSafetensors, type SafetensorsSummary } from './parser';
import { SafetensorsError } from './safetensors.errors';
import type { Tensor } from './format';

const PATH = 'model.safetensors';

function f32(...values: number[]): Buffer {
  return Buffer.from(new Float32Array(values).buffer);
}

/** A file with an arbitrary (possibly invalid) header, for the cases the writer refuses to produce. */
function rawSafetensors(header: unknown, data: Buffer = Buffer.alloc(0)): Buffer {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  return withHeaderBytes(json, data);
}

function withHeaderBytes(header: Buffer, data: Buffer): Buffer {
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(header.length));
  return Buffer.concat([prefix, header, data]);
}

function feed(bytes: Buffer, chunkSize: number, declaredSize?: number): SafetensorsSummary {
  const parser = new SafetensorsParser({ path: PATH, declaredSize });
  for (let i = 0; i < bytes.length; i += chunkSize) parser.write(bytes.subarray(i, i + chunkSize));
  return parser.end();
}

/** The SafetensorsError that `run` throws; fails the test when it throws nothing or something else. */
function errorOf(run: () => unknown): SafetensorsError {
  try {
    run();
  } catch (error) {
    if (error instanceof SafetensorsError) return error;
    throw error;
  }
  throw new Error('expected SafetensorsError, nothing was thrown');
}

// Written in name order: embed [0, 24), empty [24, 24), mask [24, 27), norm.bias [27, 35), scale [35, 43).
const valid = encodeSafetensors(
  {
    'model.embed.weight': { dtype: 'F32', shape: [2, 3], data: f32(1, 2, 3, 4, 5, 6) },
    'model.norm.bias': { dtype: 'BF16', shape: [4], data: Buffer.alloc(8, 1) },
    'model.scale': { dtype: 'F64', shape: [], data: Buffer.alloc(8, 2) },
    'model.empty': { dtype: 'I8', shape: [0, 5], data: Buffer.alloc(0) },
    'model.mask': { dtype: 'BOOL', shape: [3], data: Buffer.from([1, 0, 1]) },
  },
  { format: 'pt' },
);

describe('SafetensorsParser', () => {
  it.each([1, 3, 7, 8, 9, 64, valid.length])('reads a valid file fed in %i-byte chunks', (chunkSize) => {
    const summary = feed(valid, chunkSize, valid.length);

    expect(summary.tensorCount).toBe(5);
    expect(summary.metadata).toEqual({ format: 'pt' });
    expect(summary.fileSize).toBe(valid.length);
    expect(summary.dataLength).toBe(24 + 8 + 8 + 0 + 3);
    expect(summary.tensors['model.embed.weight']).toEqual({ dtype: 'F32', shape: [2, 3], dataOffsets: [0, 24] });
    expect(summary.tensors['model.scale']).toEqual({ dtype: 'F64', shape: [], dataOffsets: [35, 43] });
  });

  it.each([1, 999])('buffers a header of several hundred KiB fed in %i-byte chunks', (chunkSize) => {
    const tensors: Record<string, Tensor> = {};
    for (let i = 0; i < 5000; i++) tensors[`model.layers.${i}.self_attn.q_proj.weight`] = { dtype: 'U8', shape: [1], data: Buffer.from([i % 256]) };
    const bytes = encodeSafetensors(tensors);

    const summary = feed(bytes, chunkSize, bytes.length);

    expect(summary.headerLength).toBeGreaterThan(300 * 1024);
    expect(summary.tensorCount).toBe(5000);
    // Last in name order, so last in the data.
    expect(summary.tensors['model.layers.999.self_attn.q_proj.weight'].dataOffsets).toEqual([4999, 5000]);
  });

  it('accepts tensors listed out of offset order and a header padded with spaces', () => {
    const bytes = rawSafetensors(
      JSON.stringify({
        b: { dtype: 'U8', shape: [2], data_offsets: [2, 4] },
        a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] },
      }) + '     ',
      Buffer.from([1, 2, 3, 4]),
    );

    expect(parseSafetensors(bytes, { path: PATH }).tensorCount).toBe(2);
  });

  it('keeps a tensor named __proto__ as a tensor', () => {
    const bytes = rawSafetensors('{"__proto__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', Buffer.from([7]));

    const summary = parseSafetensors(bytes, { path: PATH });

    expect(Object.keys(summary.tensors)).toEqual(['__proto__']);
  });

  describe('refuses a corrupt header length', () => {
    it('of 0', () => {
      const error = errorOf(() => parseSafetensors(withHeaderBytes(Buffer.alloc(0), Buffer.alloc(0)), { path: PATH }));
      expect(error.code).toBe('corrupt');
      expect(error.message).toContain('header length is 0');
    });

    it('above the configured maximum, before reading the header', () => {
      const prefix = Buffer.alloc(8);
      prefix.writeBigUInt64LE(2048n);
      const parser = new SafetensorsParser({ path: PATH, maxHeaderBytes: 1024 });

      const error = errorOf(() => parser.write(prefix));

      expect(error.code).toBe('corrupt');
      expect(error.message).toContain('exceeds the 1024-byte limit');
    });

    it('of 2^64 - 1', () => {
      const error = errorOf(() => parseSafetensors(Buffer.alloc(8, 0xff), { path: PATH }));
      expect(error.code).toBe('corrupt');
    });

    it('larger than the declared file size', () => {
      const error = errorOf(() => feed(valid, 1, 40));
      expect(error.code).toBe('corrupt');
      expect(error.message).toContain('larger than the declared file size 40');
    });

    it('implying a different size than declared, as soon as the header is read', () => {
      const parser = new SafetensorsParser({ path: PATH, declaredSize: valid.length + 1 });
      const headerEnd = 8 + Number(valid.readBigUInt64LE(0));

      const error = errorOf(() => parser.write(valid.subarray(0, headerEnd)));

      expect(error.code).toBe('corrupt');
      expect(error.message).toContain(`declared file size is ${valid.length + 1}`);
    });
  });

  it.each([
    ['non-JSON', '{"a": not json}', 'not valid JSON'],
    ['a JSON array', '[1, 2, 3]', 'does not start with "{"'],
    ['whitespace before the object', ' {}', 'does not start with "{"'],
    ['a JSON object followed by garbage', '{} {}', 'not valid JSON'],
    ['a tensor that is not an object', '{"a": 5}', 'tensor "a" is not an object'],
    ['an unknown dtype', '{"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}', 'unknown dtype "F128"'],
    ['a missing dtype', '{"a":{"shape":[1],"data_offsets":[0,4]}}', 'unknown dtype undefined'],
    ['a negative dimension', '{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}}', 'non-negative integers'],
    ['a fractional dimension', '{"a":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}}', 'non-negative integers'],
    ['a shape that is not an array', '{"a":{"dtype":"U8","shape":"4","data_offsets":[0,4]}}', 'non-negative integers'],
    ['missing data_offsets', '{"a":{"dtype":"U8","shape":[1]}}', 'data_offsets undefined'],
    ['three offsets', '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}', '[begin, end]'],
    ['offsets that end before they begin', '{"a":{"dtype":"U8","shape":[0],"data_offsets":[4,2]}}', 'end before they begin'],
    ['shape and offsets that disagree', '{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}', 'needs 16 bytes but data_offsets [0, 12] hold 12'],
    ['an unsafe-integer shape', '{"a":{"dtype":"U8","shape":[9007199254740993],"data_offsets":[0,1]}}', 'non-negative integers'],
    ['non-string metadata', '{"__metadata__":{"step":5}}', '"__metadata__.step" is not a string (metadata values must be strings)'],
    ['metadata that is not an object', '{"__metadata__":"pt"}', '"__metadata__" is not an object'],
  ])('refuses a header with %s', (_case, header, message) => {
    const error = errorOf(() => parseSafetensors(rawSafetensors(header, Buffer.alloc(16)), { path: PATH }));

    expect(error.code).toBe('corrupt');
    expect(error.path).toBe(PATH);
    expect(error.message).toContain(message);
    expect(error.message).toContain('re-export it with the safetensors library');
  });

  it('refuses a header that is not valid UTF-8', () => {
    const header = Buffer.concat([Buffer.from('{"'), Buffer.from([0xc3, 0x28]), Buffer.from('":{}}')]);
    const error = errorOf(() => parseSafetensors(withHeaderBytes(header, Buffer.alloc(0)), { path: PATH }));

    expect(error.code).toBe('corrupt');
    expect(error.message).toContain('UTF-8');
  });

  it.each([
    [
      'a gap between tensors',
      { a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] }, b: { dtype: 'U8', shape: [2], data_offsets: [3, 5] } },
      'belong to no tensor',
    ],
    ['data that does not start at 0', { a: { dtype: 'U8', shape: [2], data_offsets: [1, 3] } }, 'bytes 0..1 of the data belong to no tensor'],
    [
      'overlapping tensors',
      { a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] }, b: { dtype: 'U8', shape: [2], data_offsets: [2, 4] } },
      'overlaps tensor "a"',
    ],
    ['two tensors sharing bytes', { a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] }, b: { dtype: 'U8', shape: [2], data_offsets: [0, 2] } }, 'overlaps'],
    [
      'an empty tensor inside another',
      { a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] }, b: { dtype: 'U8', shape: [0], data_offsets: [2, 2] } },
      'overlaps',
    ],
  ])('refuses %s', (_case, header, message) => {
    const error = errorOf(() => parseSafetensors(rawSafetensors(header, Buffer.alloc(5)), { path: PATH }));

    expect(error.code).toBe('corrupt');
    expect(error.message).toContain(message);
  });

  describe('at the end of the stream', () => {
    it.each([
      ['inside the length prefix', 5, 'ended after 5 bytes, inside the 8-byte header length'],
      ['inside the header', 20, 'bytes short of the'],
      ['inside the data', valid.length - 1, `but only ${valid.length - 1} arrived`],
    ])('reports a file cut %s as truncated', (_case, length, message) => {
      const error = errorOf(() => feed(valid.subarray(0, length), 1));

      expect(error.code).toBe('truncated');
      expect(error.path).toBe(PATH);
      expect(error.message).toContain(message);
      expect(error.message).toContain('read or copy the complete file');
    });

    it('reports an empty file as truncated', () => {
      expect(errorOf(() => feed(Buffer.alloc(0), 1)).code).toBe('truncated');
    });

    it.each([1, 4096])('refuses trailing bytes after the last tensor (chunks of %i)', (chunkSize) => {
      const error = errorOf(() => feed(Buffer.concat([valid, Buffer.from([0])]), chunkSize));

      expect(error.code).toBe('corrupt');
      expect(error.message).toContain('past the end of its last tensor');
    });
  });

  it('names the problem without a path, and exposes it bare as reason for callers that phrase their own', () => {
    const error = errorOf(() => parseSafetensors(withHeaderBytes(Buffer.alloc(0), Buffer.alloc(0))));

    expect(error.path).toBeUndefined();
    expect(error.reason).toBe('the header length is 0');
    expect(error.message).toBe('the data is not a valid safetensors file: the header length is 0; re-export it with the safetensors library');
  });
});

describe('readSafetensors', () => {
  const tensors: Record<string, Tensor> = {
    'wte.weight': { dtype: 'F32', shape: [2, 3], data: f32(1, 2, 3, 4, 5, 6) },
    'h.0.ln_1.bias': { dtype: 'BF16', shape: [2], data: Buffer.from([0x80, 0x3f, 0x00, 0x40]) },
    scalar: { dtype: 'I64', shape: [], data: Buffer.from([7, 0, 0, 0, 0, 0, 0, 0]) },
    empty: { dtype: 'U8', shape: [0, 4], data: Buffer.alloc(0) },
  };
  // An own property named __proto__, as JSON.parse would create it.
  Object.defineProperty(tensors, '__proto__', { value: { dtype: 'BOOL', shape: [1], data: Buffer.from([1]) }, enumerable: true });

  it('round-trips tensors and metadata, returning views into the buffer', () => {
    const file = encodeSafetensors(tensors, { format: 'pt', heldout_loss: '4.6' });

    const { tensors: read, metadata } = readSafetensors(file);

    expect(metadata).toEqual({ format: 'pt', heldout_loss: '4.6' });
    expect(Object.keys(read).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, tensor] of Object.entries(tensors)) {
      expect(read[name].dtype).toBe(tensor.dtype);
      expect(read[name].shape).toEqual(tensor.shape);
      expect(read[name].data.equals(tensor.data)).toBe(true);
      expect(read[name].data.buffer).toBe(file.buffer);
    }
    expect(Object.getPrototypeOf(read)).toBe(Object.prototype);
  });

  it('reads a file without metadata or tensors', () => {
    expect(readSafetensors(encodeSafetensors({}))).toEqual({ tensors: {}, metadata: {} });
  });

  it.each([
    ['corrupt', Buffer.concat([valid, Buffer.from([0])])],
    ['truncated', valid.subarray(0, valid.length - 1)],
  ])('refuses a %s buffer with a SafetensorsError', (code, bytes) => {
    const error = errorOf(() => readSafetensors(bytes, { path: 'model.safetensors' }));

    expect(error.code).toBe(code);
    expect(error.path).toBe('model.safetensors');
  });
});
