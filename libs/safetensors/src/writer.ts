import { LENGTH_PREFIX_BYTES, METADATA_KEY, checkedMetadata, tensorByteLength, type Tensor } from './format';
import { SafetensorsError } from './safetensors.errors';

function refused(why: string): SafetensorsError {
  return new SafetensorsError('corrupt', why, { message: `cannot write a safetensors file: ${why}` });
}

/**
 * Serialises tensors the way the Python engine does (python/clopen_fp/st.py in @clopen/fingerprint),
 * so both sides produce identical bytes: "__metadata__" first when it has entries, tensors in name
 * order, the header padded with spaces to a multiple of 8 bytes. Refuses to write an invalid file.
 */
export function encodeSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header[METADATA_KEY] = checkedMetadata(metadata, refused);
  const blobs: Buffer[] = [];
  let offset = 0;
  for (const name of Object.keys(tensors).sort()) {
    if (name === METADATA_KEY) throw refused(`"${METADATA_KEY}" cannot be a tensor name`);
    const { dtype, shape, data } = tensors[name];
    const label = `tensor ${JSON.stringify(name)}`;
    const size = tensorByteLength(label, dtype, shape, refused);
    if (BigInt(data.length) !== size) {
      throw refused(`${label} (${dtype}, shape [${shape.join(', ')}]) needs ${size} bytes, got ${data.length}`);
    }
    // defineProperty: plain assignment to "__proto__" would set the prototype instead.
    Object.defineProperty(header, name, {
      value: { dtype, shape, data_offsets: [offset, offset + data.length] },
      enumerable: true,
      writable: true,
      configurable: true,
    });
    blobs.push(data);
    offset += data.length;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Buffer.alloc(Math.ceil(json.length / 8) * 8, 0x20);
  json.copy(padded);
  const prefix = Buffer.alloc(LENGTH_PREFIX_BYTES);
  prefix.writeBigUInt64LE(BigInt(padded.length));
  return Buffer.concat([prefix, padded, ...blobs]);
}
