import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { encodeSafetensors } from '@clopen/safetensors';
import { ArtefactRejected, httpStatusOf } from './artefact.errors';
import { ArtefactInspector, type ArtefactInspectorOptions, type InspectedArtefact } from './artefact-inspector';

const MiB = 1024 * 1024;

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function chunksOf(bytes: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return chunks;
}

interface Upload {
  result: InspectedArtefact;
  stored: Buffer;
}

/** Pipes the bytes through an inspector into an in-memory "bucket", as the upload handler pipes into S3. */
async function upload(options: Partial<ArtefactInspectorOptions> & { path: string }, bytes: Buffer, chunkSize = 64 * 1024): Promise<Upload> {
  const inspector = new ArtefactInspector({ maxBytes: 64 * MiB, ...options });
  const stored: Buffer[] = [];
  const bucket = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      stored.push(chunk);
      callback();
    },
  });
  await pipeline(Readable.from(chunksOf(bytes, chunkSize)), inspector, bucket);
  return { result: inspector.result, stored: Buffer.concat(stored) };
}

async function rejectionOf(promise: Promise<unknown>): Promise<ArtefactRejected> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ArtefactRejected) return error;
    throw error;
  }
  throw new Error('expected ArtefactRejected, the upload succeeded');
}

const weights = encodeSafetensors(
  {
    'lm_head.weight': { dtype: 'F16', shape: [4, 8], data: Buffer.alloc(64, 3) },
    'model.norm.weight': { dtype: 'F32', shape: [8], data: Buffer.alloc(32, 1) },
  },
  { format: 'pt' },
);

describe('ArtefactInspector', () => {
  it.each([1, 7, weights.length])('passes a safetensors file through unchanged in %i-byte chunks', async (chunkSize) => {
    const { result, stored } = await upload({ path: 'model.safetensors', declaredSize: weights.length, declaredSha256: sha256(weights) }, weights, chunkSize);

    expect(stored.equals(weights)).toBe(true);
    expect(result).toEqual({
      path: 'model.safetensors',
      size: weights.length,
      sha256: sha256(weights),
      kind: 'weights',
      safetensors: {
        tensorCount: 2,
        tensors: {
          'lm_head.weight': { dtype: 'F16', shape: [4, 8], dataOffsets: [0, 64] },
          'model.norm.weight': { dtype: 'F32', shape: [8], dataOffsets: [64, 96] },
        },
        metadata: { format: 'pt' },
      },
    });
  });

  it('accepts an upper-case declared sha256', async () => {
    const { result } = await upload({ path: 'model.safetensors', declaredSha256: sha256(weights).toUpperCase() }, weights);

    expect(result.sha256).toBe(sha256(weights));
  });

  it('parses config.json and exposes its content', async () => {
    const config = Buffer.from(JSON.stringify({ model_type: 'llama', hidden_size: 8 }));

    const { result, stored } = await upload({ path: 'config.json' }, config, 3);

    expect(stored.equals(config)).toBe(true);
    expect(result).toMatchObject({ kind: 'config', size: config.length, json: { model_type: 'llama', hidden_size: 8 } });
  });

  it('streams text files without parsing them', async () => {
    const readme = Buffer.from('# My model\n');

    const { result } = await upload({ path: 'README.md' }, readme);

    expect(result).toEqual({ path: 'README.md', size: readme.length, sha256: sha256(readme), kind: 'documentation' });
  });

  it('accepts an ONNX graph beside the weights and refuses a model.onnx that is not one', async () => {
    const graph = Buffer.concat([Buffer.from([0x08, 0x08, 0x12, 0x07]), Buffer.from('pytorch')]);
    expect((await upload({ path: 'model.onnx' }, graph, 3)).result.kind).toBe('serving_graph');

    const error = await rejectionOf(upload({ path: 'model.onnx' }, Buffer.from('\x80\x04pickle')));
    expect(error.code).toBe('corrupt_onnx');
  });

  it('reports a wrong checksum with both digests and what to do', async () => {
    const declared = 'ab'.repeat(32);

    const error = await rejectionOf(upload({ path: 'model.safetensors', declaredSha256: declared }, weights));

    expect(error.code).toBe('checksum_mismatch');
    expect(error.path).toBe('model.safetensors');
    expect(error.message).toBe(
      `artefact checksum mismatch for model.safetensors: expected ${declared} got ${sha256(weights)}; ` + 're-upload the file or fix the declared sha256',
    );
    expect(httpStatusOf(error.code)).toBe(400);
  });

  it('stops a file over maxBytes as soon as the limit is crossed, before it reaches storage', async () => {
    const big = Buffer.alloc(1000);
    const inspector = new ArtefactInspector({ path: 'README.md', maxBytes: 100 });
    let stored = 0;
    const bucket = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        stored += chunk.length;
        callback();
      },
    });

    const error = await rejectionOf(pipeline(Readable.from(chunksOf(big, 10)), inspector, bucket));

    expect(error.code).toBe('file_too_large');
    expect(httpStatusOf(error.code)).toBe(413);
    expect(error.message).toContain('the limit is 100');
    expect(stored).toBeLessThanOrEqual(100);
  });

  it('refuses a declared size over maxBytes before reading anything', () => {
    expect(() => new ArtefactInspector({ path: 'model.safetensors', declaredSize: 101, maxBytes: 100 })).toThrow(
      expect.objectContaining({ code: 'file_too_large' }),
    );
  });

  it('refuses more bytes than declared', async () => {
    const text = Buffer.from('hello world');

    const error = await rejectionOf(upload({ path: 'README.md', declaredSize: 5 }, text, 1));

    expect(error.code).toBe('size_mismatch');
    expect(error.message).toContain('declared 5');
  });

  it('reports fewer bytes than declared as truncated', async () => {
    const text = Buffer.from('hello');

    const error = await rejectionOf(upload({ path: 'README.md', declaredSize: 10 }, text));

    expect(error.code).toBe('truncated');
    expect(error.message).toContain('got 5 bytes, declared 10');
  });

  it('reports a truncated safetensors file even without a declared size', async () => {
    const error = await rejectionOf(upload({ path: 'model.safetensors' }, weights.subarray(0, weights.length - 3)));

    expect(error.code).toBe('truncated');
    expect(error.path).toBe('model.safetensors');
    expect(error.message).toBe(
      `artefact model.safetensors is truncated: its header describes ${weights.length} bytes but only ` +
        `${weights.length - 3} arrived; re-upload the complete file`,
    );
  });

  it('surfaces safetensors corruption as a stream error while the bytes flow', async () => {
    const corrupt = Buffer.concat([weights, Buffer.from('junk')]);

    const error = await rejectionOf(upload({ path: 'model-00001-of-00002.safetensors' }, corrupt, 1));

    expect(error.code).toBe('corrupt_safetensors');
    expect(error.path).toBe('model-00001-of-00002.safetensors');
    expect(error.message).toBe(
      `artefact model-00001-of-00002.safetensors is not a valid safetensors file: the file continues past the end ` +
        `of its last tensor (${weights.length} bytes); re-export it with the safetensors library and re-upload`,
    );
  });

  it('refuses a safetensors header that disagrees with the declared size before the data arrives', async () => {
    const inspector = new ArtefactInspector({ path: 'model.safetensors', declaredSize: 40, maxBytes: MiB });
    const failed = new Promise<unknown>((resolve) => inspector.on('error', resolve));

    inspector.write(weights.subarray(0, 8));

    const error = await failed;
    expect(error).toBeInstanceOf(ArtefactRejected);
    expect(error).toMatchObject({ code: 'corrupt_safetensors', path: 'model.safetensors' });
    expect((error as Error).message).toContain('is larger than the declared file size 40');
  });

  it.each([
    ['config.json', '{"model_type": "llama",}'],
    ['model.safetensors.index.json', ''],
    ['generation_config.json', '{"do_sample": tru'],
    ['tokenizer_config.json', '\u00ff\u00fe'],
  ])('refuses invalid JSON in %s', async (path, text) => {
    const error = await rejectionOf(upload({ path }, Buffer.from(text, path === 'tokenizer_config.json' ? 'latin1' : 'utf8')));

    expect(error.code).toBe('invalid_json');
    expect(error.path).toBe(path);
    expect(error.message).toContain('fix the file and re-upload it');
  });

  it('refuses a JSON file over the JSON cap', async () => {
    const json = Buffer.from(JSON.stringify({ pad: 'x'.repeat(200) }));

    const error = await rejectionOf(upload({ path: 'config.json', maxJsonBytes: 100 }, json, 16));

    expect(error.code).toBe('file_too_large');
    expect(error.message).toContain('limit for JSON files');
  });

  it.each([
    ['../config.json', 'invalid_file_name'],
    ['/etc/passwd', 'invalid_file_name'],
    ['pytorch_model.bin', 'unexpected_file'],
    ['model.pkl', 'unexpected_file'],
  ])('refuses the name %s when constructed', (path, code) => {
    expect(() => new ArtefactInspector({ path, maxBytes: MiB })).toThrow(expect.objectContaining({ code }));
  });

  it.each([[{ declaredSha256: 'not-a-digest' }], [{ declaredSize: -1 }], [{ declaredSize: 1.5 }]])('refuses a malformed declaration %j', (declaration) => {
    expect(() => new ArtefactInspector({ path: 'config.json', maxBytes: MiB, ...declaration })).toThrow(
      expect.objectContaining({ code: 'invalid_declaration' }),
    );
  });

  it('has no result before the stream finished', () => {
    const inspector = new ArtefactInspector({ path: 'config.json', maxBytes: MiB });

    expect(() => inspector.result).toThrow('has not finished inspection');
  });
});
