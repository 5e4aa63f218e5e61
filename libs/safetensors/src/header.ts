import { METADATA_KEY, checkedMetadata, isNonNegativeSafeInteger, isPlainObject, tensorByteLength, type SafetensorsTensor } from './format';
import { SafetensorsError } from './safetensors.errors';

export interface SafetensorsHeader {
  tensorCount: number;
  tensors: Record<string, SafetensorsTensor>;
  metadata: Record<string, string> | null;
}

export function corrupt(path: string | undefined, why: string): SafetensorsError {
  return new SafetensorsError('corrupt', why, { path });
}

/** Parses and validates the JSON header (the N bytes after the length prefix). */
export function parseSafetensorsHeader(bytes: Uint8Array, path?: string): SafetensorsHeader {
  // The format requires it; JSON.parse alone would also take leading whitespace.
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
      metadata = checkedMetadata(entry, (why) => corrupt(path, why));
      continue;
    }
    tensors.push([name, parseTensor(name, entry, path)]);
  }
  // Object.fromEntries defines own properties, so a tensor named "__proto__" stays a tensor.
  return { tensorCount: tensors.length, tensors: Object.fromEntries(tensors), metadata };
}

function parseTensor(name: string, entry: unknown, path: string | undefined): SafetensorsTensor {
  const label = `tensor ${JSON.stringify(name)}`;
  if (!isPlainObject(entry)) throw corrupt(path, `${label} is not an object`);
  const { dtype, shape, data_offsets: offsets } = entry;
  const expected = tensorByteLength(label, dtype, shape, (why) => corrupt(path, why));
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeSafeInteger)) {
    throw corrupt(path, `${label} has data_offsets ${JSON.stringify(offsets)}, not [begin, end] integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw corrupt(path, `${label} has data_offsets [${begin}, ${end}] that end before they begin`);
  const valid = entry as unknown as { dtype: SafetensorsTensor['dtype']; shape: number[] };
  if (BigInt(end - begin) !== expected) {
    throw corrupt(
      path,
      `${label} (${valid.dtype}, shape [${valid.shape.join(', ')}]) needs ${expected} bytes but data_offsets ` + `[${begin}, ${end}] hold ${end - begin}`,
    );
  }
  return { dtype: valid.dtype, shape: [...valid.shape], dataOffsets: [begin, end] };
}

/** Checks the tensors tile the data section from 0 without gaps or overlaps; returns its length. */
export function dataLengthOf(header: SafetensorsHeader, path?: string): number {
  const ranges = Object.entries(header.tensors)
    .map(([name, tensor]) => ({ name, begin: tensor.dataOffsets[0], end: tensor.dataOffsets[1] }))
    .sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expectedBegin = 0;
  let previous = '';
  for (const range of ranges) {
    if (range.begin > expectedBegin) {
      throw corrupt(path, `bytes ${expectedBegin}..${range.begin} of the data belong to no tensor ` + `(gap before tensor ${JSON.stringify(range.name)})`);
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
