import { encodeSafetensors } from './writer';
import { SafetensorsError } from './safetensors.errors';
import type { Tensor } from './format';

const f32 = (values: number[]): Buffer => Buffer.from(new Float32Array(values).buffer);

describe('encodeSafetensors', () => {
  it('writes the layout of the Python writer: metadata first, names in order, header padded with spaces', () => {
    const b: Tensor = { dtype: 'F32', shape: [2, 3], data: f32([1, 2, 3, 4, 5, 6]) };
    const a: Tensor = { dtype: 'I64', shape: [], data: Buffer.from([7, 0, 0, 0, 0, 0, 0, 0]) };

    const file = encodeSafetensors({ b, a }, { format: 'pt' });

    const length = Number(file.readBigUInt64LE(0));
    expect(length % 8).toBe(0);
    const header = file.subarray(8, 8 + length).toString('utf8');
    expect(header.trimEnd()).toBe(
      '{"__metadata__":{"format":"pt"},"a":{"dtype":"I64","shape":[],"data_offsets":[0,8]},' + '"b":{"dtype":"F32","shape":[2,3],"data_offsets":[8,32]}}',
    );
    expect(/^ *$/.test(header.slice(header.trimEnd().length))).toBe(true);
    expect(file.subarray(8 + length).equals(Buffer.concat([a.data, b.data]))).toBe(true);
  });

  it('leaves out empty metadata, as the Python writer does', () => {
    expect(encodeSafetensors({}, {}).equals(encodeSafetensors({}))).toBe(true);
  });

  it.each<[string, Record<string, Tensor>, Record<string, string> | undefined, string]>([
    ['data of the wrong length', { t: { dtype: 'F32', shape: [3], data: Buffer.alloc(8) } }, undefined, 'needs 12 bytes, got 8'],
    ['an unknown dtype', { t: { dtype: 'F4' as 'F32', shape: [1], data: Buffer.alloc(1) } }, undefined, 'unknown dtype "F4"'],
    ['a fractional dimension', { t: { dtype: 'U8', shape: [1.5], data: Buffer.alloc(1) } }, undefined, 'not an array of non-negative integers'],
    ['a tensor named __metadata__', { __metadata__: { dtype: 'U8', shape: [1], data: Buffer.alloc(1) } }, undefined, '"__metadata__" cannot be a tensor name'],
    ['a metadata value that is not a string', {}, { n: 1 as unknown as string }, '"__metadata__.n" is not a string'],
  ])('refuses to write %s', (_what, input, metadata, message) => {
    expect(() => encodeSafetensors(input, metadata)).toThrow(SafetensorsError);
    expect(() => encodeSafetensors(input, metadata)).toThrow(`cannot write a safetensors file: `);
    expect(() => encodeSafetensors(input, metadata)).toThrow(message);
  });
});
