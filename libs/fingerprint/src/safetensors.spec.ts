import { readSafetensors, SafetensorsError, writeSafetensors, type Tensor } from './safetensors';

function f32(values: number[]): Buffer {
  return Buffer.from(new Float32Array(values).buffer);
}

/** A file with a hand-written header, for the cases writeSafetensors refuses to produce. */
function raw(header: unknown, data: Buffer = Buffer.alloc(0)): Buffer {
  let json = Buffer.isBuffer(header) ? header : Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, json, data]);
}

function readError(buf: Buffer): string {
  try {
    readSafetensors(buf);
  } catch (error) {
    expect(error).toBeInstanceOf(SafetensorsError);
    return (error as Error).message;
  }
  throw new Error('expected a SafetensorsError');
}

describe('safetensors', () => {
  const tensors: Record<string, Tensor> = {
    'wte.weight': { dtype: 'F32', shape: [2, 3], data: f32([1, 2, 3, 4, 5, 6]) },
    'h.0.ln_1.bias': { dtype: 'BF16', shape: [2], data: Buffer.from([0x80, 0x3f, 0x00, 0x40]) },
    scalar: { dtype: 'I64', shape: [], data: Buffer.from([7, 0, 0, 0, 0, 0, 0, 0]) },
    empty: { dtype: 'U8', shape: [0, 4], data: Buffer.alloc(0) },
  };
  // An own property named __proto__, as JSON.parse would create it.
  Object.defineProperty(tensors, '__proto__', { value: { dtype: 'BOOL', shape: [1], data: Buffer.from([1]) }, enumerable: true });

  it('round-trips tensors and metadata', () => {
    const file = writeSafetensors(tensors, { format: 'pt', heldout_loss: '4.6' });
    const { tensors: read, metadata } = readSafetensors(file);
    expect(metadata).toEqual({ format: 'pt', heldout_loss: '4.6' });
    expect(Object.keys(read).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, tensor] of Object.entries(tensors)) {
      expect(read[name].dtype).toBe(tensor.dtype);
      expect(read[name].shape).toEqual(tensor.shape);
      expect(Buffer.compare(read[name].data, tensor.data)).toBe(0);
    }
    expect(Object.getPrototypeOf(read)).toBe(Object.prototype);
  });

  it('writes the layout of the Python writer: metadata first, names in order, header padded with spaces', () => {
    const file = writeSafetensors({ b: tensors['wte.weight'], a: tensors.scalar }, { format: 'pt' });
    const length = Number(file.readBigUInt64LE(0));
    expect(length % 8).toBe(0);
    const header = file.subarray(8, 8 + length).toString('utf8');
    expect(header.trimEnd()).toBe(
      '{"__metadata__":{"format":"pt"},"a":{"dtype":"I64","shape":[],"data_offsets":[0,8]},' +
        '"b":{"dtype":"F32","shape":[2,3],"data_offsets":[8,32]}}',
    );
    expect(/^ *$/.test(header.slice(header.trimEnd().length))).toBe(true);
    expect(file.length).toBe(8 + length + 32);
  });

  it('reads a file without metadata or tensors', () => {
    expect(readSafetensors(writeSafetensors({}))).toEqual({ tensors: {}, metadata: {} });
  });

  it.each<[string, Buffer, RegExp]>([
    ['shorter than 8 bytes', Buffer.alloc(5), /5 bytes, shorter than its 8-byte header length/],
    ['a header length of 0', Buffer.alloc(8), /header length 0 does not fit/],
    ['a header longer than the buffer', (() => { const b = raw({}); b.writeBigUInt64LE(1000n); return b; })(), /header length 1000 does not fit/],
    ['a header that does not start with {', raw(' {}'), /does not start with "\{"/],
    ['a header that is not JSON', raw('{"a": '), /not UTF-8 JSON/],
    ['a header that is not UTF-8', raw(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])), /not UTF-8 JSON/],
    ['a header that is an array', raw([]), /does not start with "\{"/],
    ['metadata that is not an object', raw({ __metadata__: 'x' }), /"__metadata__" is not an object/],
    ['a metadata value that is not a string', raw({ __metadata__: { n: 1 } }), /"__metadata__.n" is not a string/],
    ['a tensor entry that is not an object', raw({ t: 3 }), /tensor "t" is not an object/],
    ['an unknown dtype', raw({ t: { dtype: 'F128', shape: [1], data_offsets: [0, 16] } }, Buffer.alloc(16)), /dtype "F128"/],
    ['a negative dimension', raw({ t: { dtype: 'U8', shape: [-1], data_offsets: [0, 0] } }), /not an array of non-negative integers/],
    ['a shape that is not an array', raw({ t: { dtype: 'U8', shape: 3, data_offsets: [0, 3] } }, Buffer.alloc(3)), /shape 3/],
    ['missing data_offsets', raw({ t: { dtype: 'U8', shape: [1] } }, Buffer.alloc(1)), /data_offsets undefined/],
    ['data_offsets of the wrong size', raw({ t: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, Buffer.alloc(4)), /needs 8 bytes but data_offsets \[0, 4\] hold 4/],
    ['a gap before a tensor', raw({ t: { dtype: 'U8', shape: [1], data_offsets: [1, 2] } }, Buffer.alloc(2)), /starts at data byte 1, expected 0 \(a gap\)/],
    ['overlapping tensors', raw({ a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] }, b: { dtype: 'U8', shape: [2], data_offsets: [1, 3] } }, Buffer.alloc(3)), /"b" starts at data byte 1, expected 2 \(an overlap\)/],
    ['bytes after the last tensor', raw({ t: { dtype: 'U8', shape: [1], data_offsets: [0, 1] } }, Buffer.alloc(2)), /describe 1 data bytes but 2 follow/],
    ['a truncated data section', raw({ t: { dtype: 'U8', shape: [4], data_offsets: [0, 4] } }, Buffer.alloc(2)), /describe 4 data bytes but 2 follow/],
  ])('refuses %s', (_what, buf, message) => {
    expect(readError(buf)).toMatch(message);
  });

  it.each<[string, Record<string, Tensor>, Record<string, string> | undefined, RegExp]>([
    ['data of the wrong length', { t: { dtype: 'F32', shape: [3], data: Buffer.alloc(8) } }, undefined, /needs 12 bytes, got 8/],
    ['an unknown dtype', { t: { dtype: 'F4' as 'F32', shape: [1], data: Buffer.alloc(1) } }, undefined, /dtype "F4"/],
    ['a fractional dimension', { t: { dtype: 'U8', shape: [1.5], data: Buffer.alloc(1) } }, undefined, /not an array of non-negative integers/],
    ['a tensor named __metadata__', { __metadata__: { dtype: 'U8', shape: [1], data: Buffer.alloc(1) } }, undefined, /cannot be a tensor name/],
    ['a metadata value that is not a string', {}, { n: 1 as unknown as string }, /"__metadata__.n" is not a string/],
  ])('refuses to write %s', (_what, input, metadata, message) => {
    expect(() => writeSafetensors(input, metadata)).toThrow(SafetensorsError);
    expect(() => writeSafetensors(input, metadata)).toThrow(message);
  });
});
