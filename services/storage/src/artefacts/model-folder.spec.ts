import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { encodeSafetensors, type Tensor } from '@clopen/safetensors';
import { ArtefactRejected } from './artefact.errors';
import { ArtefactInspector, type InspectedArtefact } from './artefact-inspector';
import { validateModelFolder } from './model-folder';

type Folder = Record<string, Buffer>;

async function inspect(path: string, bytes: Buffer): Promise<InspectedArtefact> {
  const inspector = new ArtefactInspector({ path, maxBytes: 1024 * 1024 });
  const discard = new Writable({ write: (_chunk, _encoding, callback) => callback() });
  await pipeline(Readable.from([bytes]), inspector, discard);
  return inspector.result;
}

async function inspectFolder(folder: Folder): Promise<InspectedArtefact[]> {
  return Promise.all(Object.entries(folder).map(([path, bytes]) => inspect(path, bytes)));
}

async function rejectionOf(folder: Folder): Promise<ArtefactRejected> {
  const results = await inspectFolder(folder);
  try {
    validateModelFolder(results);
  } catch (error) {
    if (error instanceof ArtefactRejected) return error;
    throw error;
  }
  throw new Error('expected ArtefactRejected, the folder was accepted');
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

function tensor(dtype: Tensor['dtype'], shape: number[], bytesPerElement: number): Tensor {
  const elements = shape.reduce((a, b) => a * b, 1);
  return { dtype, shape, data: Buffer.alloc(elements * bytesPerElement, 7) };
}

const config = json({ model_type: 'llama', hidden_size: 4, num_hidden_layers: 2 });

const shard1 = encodeSafetensors({
  'model.embed_tokens.weight': tensor('BF16', [10, 4], 2),
  'model.layers.0.mlp.weight': tensor('BF16', [4, 4], 2),
});
const shard2 = encodeSafetensors({
  'model.layers.1.mlp.weight': tensor('BF16', [4, 4], 2),
  'model.norm.weight': tensor('F32', [4], 4),
});
const index = {
  metadata: { total_size: 80 + 32 + 32 + 16 },
  weight_map: {
    'model.embed_tokens.weight': 'model-00001-of-00002.safetensors',
    'model.layers.0.mlp.weight': 'model-00001-of-00002.safetensors',
    'model.layers.1.mlp.weight': 'model-00002-of-00002.safetensors',
    'model.norm.weight': 'model-00002-of-00002.safetensors',
  },
};

const sharded: Folder = {
  'config.json': config,
  'model-00001-of-00002.safetensors': shard1,
  'model-00002-of-00002.safetensors': shard2,
  'model.safetensors.index.json': json(index),
  'tokenizer.json': json({ version: '1.0' }),
};

const single: Folder = {
  'config.json': config,
  'model.safetensors': encodeSafetensors({
    'model.embed_tokens.weight': tensor('F16', [10, 4], 2),
    'lm_head.weight': tensor('F16', [10, 4], 2),
    'model.norm.weight': tensor('F32', [4], 4),
  }),
  'README.md': Buffer.from('# tiny\n'),
};

function sha256(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describe('validateModelFolder', () => {
  it('accepts a single-file model and summarises it', async () => {
    const manifest = validateModelFolder(await inspectFolder(single));

    expect(manifest.weights).toEqual({
      format: 'safetensors',
      shards: 1,
      tensorCount: 3,
      parameterCount: 84,
      dtypes: ['F16', 'F32'],
    });
    expect(manifest.files.map((f) => [f.path, f.kind])).toEqual([
      ['README.md', 'documentation'],
      ['config.json', 'config'],
      ['model.safetensors', 'weights'],
    ]);
    const lines = manifest.files.map((f) => `${f.path}:${sha256(single[f.path])}\n`).join('');
    expect(manifest.manifestSha256).toBe(sha256(lines));
  });

  it('gives the same manifest whatever order the files arrived in', async () => {
    const results = await inspectFolder(single);

    expect(validateModelFolder([...results].reverse())).toEqual(validateModelFolder(results));
  });

  it('accepts a complete shard set with a matching index', async () => {
    const manifest = validateModelFolder(await inspectFolder(sharded));

    expect(manifest.weights).toEqual({
      format: 'safetensors',
      shards: 2,
      tensorCount: 4,
      parameterCount: 40 + 16 + 16 + 4,
      dtypes: ['BF16', 'F32'],
    });
    expect(manifest.files).toHaveLength(5);
  });

  describe('config', () => {
    it('refuses a folder without config.json', async () => {
      const { 'config.json': _config, ...rest } = single;

      const error = await rejectionOf(rest);

      expect(error.code).toBe('missing_config');
      expect(error.message).toContain('upload the config.json');
    });

    it.each([
      ['an array', []],
      ['a string', 'llama'],
      ['null', null],
    ])('refuses a config.json that is %s', async (_case, value) => {
      const error = await rejectionOf({ ...single, 'config.json': json(value) });

      expect(error.code).toBe('missing_config');
      expect(error.message).toContain('not a JSON object');
    });
  });

  it('refuses the same file uploaded twice', async () => {
    const results = await inspectFolder(single);
    const readme = results.find((r) => r.path === 'README.md') as InspectedArtefact;

    expect(() => validateModelFolder([...results, readme])).toThrow(expect.objectContaining({ code: 'duplicate_file', path: 'README.md' }));
  });

  it('refuses a folder without weights', async () => {
    const error = await rejectionOf({ 'config.json': config, 'README.md': Buffer.from('hi') });

    expect(error.code).toBe('missing_weights');
    expect(error.message).toContain('upload model.safetensors');
  });

  it('refuses weights without a single tensor', async () => {
    const error = await rejectionOf({ 'config.json': config, 'model.safetensors': encodeSafetensors({}) });

    expect(error.code).toBe('missing_weights');
  });

  it.each([
    ['a shard', { 'model-00001-of-00002.safetensors': shard1 }],
    ['the shard index', { 'model.safetensors.index.json': json(index) }],
  ])('refuses model.safetensors mixed with %s', async (_case, extra) => {
    const error = await rejectionOf({ ...single, ...extra });

    expect(error.code).toBe('mixed_weights');
    expect(error.message).toContain('not both');
  });

  describe('sharded weights', () => {
    it('refuses a missing shard, naming it', async () => {
      const { 'model-00002-of-00002.safetensors': _missing, ...rest } = sharded;

      const error = await rejectionOf(rest);

      expect(error.code).toBe('missing_shard');
      expect(error.path).toBe('model-00002-of-00002.safetensors');
      expect(error.message).toContain('missing model-00002-of-00002.safetensors');
    });

    it('refuses shards from sets of different sizes', async () => {
      const error = await rejectionOf({
        ...sharded,
        'model-00003-of-00003.safetensors': shard2,
      });

      expect(error.code).toBe('missing_shard');
      expect(error.message).toContain('disagree on the shard count (2 vs 3');
    });

    it('refuses shards without an index', async () => {
      const { 'model.safetensors.index.json': _index, ...rest } = sharded;

      const error = await rejectionOf(rest);

      expect(error.code).toBe('invalid_index');
      expect(error.message).toContain('no model.safetensors.index.json');
    });

    it('refuses an index without its shards', async () => {
      const error = await rejectionOf({ 'config.json': config, 'model.safetensors.index.json': json(index) });

      expect(error.code).toBe('missing_shard');
    });

    it.each([
      ['is an array', []],
      ['has no weight_map', { metadata: {} }],
      ['has a weight_map that is an array', { weight_map: [] }],
      ['maps a tensor to a number', { weight_map: { ...index.weight_map, 'model.norm.weight': 2 } }],
    ])('refuses an index that %s', async (_case, value) => {
      const error = await rejectionOf({ ...sharded, 'model.safetensors.index.json': json(value) });

      expect(error.code).toBe('invalid_index');
      expect(error.path).toBe('model.safetensors.index.json');
    });

    it('refuses an index that maps a tensor to a shard that was not uploaded', async () => {
      const weightMap = { ...index.weight_map, 'model.norm.weight': 'model-00003-of-00003.safetensors' };

      const error = await rejectionOf({ ...sharded, 'model.safetensors.index.json': json({ weight_map: weightMap }) });

      expect(error.code).toBe('missing_shard');
      expect(error.message).toContain('"model-00003-of-00003.safetensors", which is not among the uploaded shards');
    });

    it('refuses an index that maps a tensor to the wrong shard', async () => {
      const weightMap = { ...index.weight_map, 'model.norm.weight': 'model-00001-of-00002.safetensors' };

      const error = await rejectionOf({ ...sharded, 'model.safetensors.index.json': json({ weight_map: weightMap }) });

      expect(error.code).toBe('invalid_index');
      expect(error.message).toContain('"model.norm.weight" is mapped to model-00001-of-00002.safetensors, which has no such tensor');
    });

    it('refuses an index that lists a tensor no shard holds', async () => {
      const weightMap = { ...index.weight_map, 'lm_head.weight': 'model-00002-of-00002.safetensors' };

      const error = await rejectionOf({ ...sharded, 'model.safetensors.index.json': json({ weight_map: weightMap }) });

      expect(error.code).toBe('invalid_index');
      expect(error.message).toContain('"lm_head.weight"');
    });

    it('refuses a shard tensor the index does not list', async () => {
      const { 'model.norm.weight': _dropped, ...weightMap } = index.weight_map;

      const error = await rejectionOf({ ...sharded, 'model.safetensors.index.json': json({ weight_map: weightMap }) });

      expect(error.code).toBe('invalid_index');
      expect(error.message).toContain('"model.norm.weight" in model-00002-of-00002.safetensors is not listed');
    });

    it('refuses a tensor stored in two shards', async () => {
      const duplicated = encodeSafetensors({
        'model.layers.1.mlp.weight': tensor('BF16', [4, 4], 2),
        'model.norm.weight': tensor('F32', [4], 4),
        'model.embed_tokens.weight': tensor('BF16', [10, 4], 2),
      });

      const error = await rejectionOf({ ...sharded, 'model-00002-of-00002.safetensors': duplicated });

      expect(error.code).toBe('invalid_index');
      expect(error.message).toContain(
        '"model.embed_tokens.weight" is stored in model-00002-of-00002.safetensors but weight_map points to model-00001-of-00002.safetensors',
      );
    });
  });
});
