import { ArtefactRejected } from './artefact.errors';

/**
 * Model folders are flat (Hugging Face style): every file sits at the top level, so a file name
 * never contains a separator. Names go straight into S3 keys and later into users' file systems,
 * hence the conservative character set.
 */
const SAFE_FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;
const MAX_FILE_NAME_BYTES = 255;

export type ArtefactKind =
  /** config.json: the architecture description every loader needs. */
  | 'config'
  /** model.safetensors: all weights in one file. */
  | 'weights'
  /** model-0000i-of-0000N.safetensors: one shard of sharded weights. */
  | 'weights_shard'
  /** model.safetensors.index.json: which shard holds which tensor. */
  | 'weights_index'
  /** generation_config.json: default sampling parameters. */
  | 'generation_config'
  /** preprocessor_config.json / processor_config.json: image/audio preprocessing. */
  | 'processor_config'
  /** Tokenizer vocabularies and settings. */
  | 'tokenizer'
  /** README.md, LICENSE: text shown to people, never loaded by code. */
  | 'documentation'
  /** model.onnx: the same weights as an ONNX graph, for hosts that serve without PyTorch (the embedder writes it beside each copy). */
  | 'serving_graph';

export const CONFIG_FILE = 'config.json';
export const SINGLE_WEIGHTS_FILE = 'model.safetensors';
export const SHARD_INDEX_FILE = 'model.safetensors.index.json';

/**
 * The allow-list. Anything not named here is refused, so the platform only ever stores data
 * (safetensors, JSON, plain text, sentencepiece protobufs) and never code that runs when loaded.
 * One ONNX graph, `model.onnx`, is accepted beside the safetensors weights (never instead of them):
 * an ONNX model is a protobuf of standard operators that runs no code when loaded (unlike pickle),
 * and hosts serving a copy with onnxruntime need it. Its first byte is checked while streaming;
 * the folder summary still counts safetensors weights only. Other .onnx names stay refused.
 */
const EXACT_NAMES: ReadonlyMap<string, ArtefactKind> = new Map<string, ArtefactKind>([
  [CONFIG_FILE, 'config'],
  [SINGLE_WEIGHTS_FILE, 'weights'],
  [SHARD_INDEX_FILE, 'weights_index'],
  ['generation_config.json', 'generation_config'],
  ['preprocessor_config.json', 'processor_config'],
  ['processor_config.json', 'processor_config'],
  ['tokenizer.json', 'tokenizer'],
  ['tokenizer_config.json', 'tokenizer'],
  ['special_tokens_map.json', 'tokenizer'],
  ['added_tokens.json', 'tokenizer'],
  ['vocab.json', 'tokenizer'],
  ['vocab.txt', 'tokenizer'],
  ['merges.txt', 'tokenizer'],
  ['tokenizer.model', 'tokenizer'],
  ['spiece.model', 'tokenizer'],
  ['chat_template.jinja', 'tokenizer'],
  ['chat_template.json', 'tokenizer'],
  ['model.onnx', 'serving_graph'],
  ['README.md', 'documentation'],
  ['LICENSE', 'documentation'],
  ['LICENSE.md', 'documentation'],
  ['LICENSE.txt', 'documentation'],
]);

/**
 * JSON files whose content is small, structured and worth checking (or needed later, like the
 * shard index). tokenizer.json and vocab.json are left out: they are vocabulary data that can be
 * tens of MiB (Gemma's tokenizer.json is ~34 MB) and would have to be held whole in memory.
 */
const PARSED_JSON_FILES: ReadonlySet<string> = new Set([
  CONFIG_FILE,
  SHARD_INDEX_FILE,
  'generation_config.json',
  'preprocessor_config.json',
  'processor_config.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'chat_template.json',
]);

const SHARD_NAME = /^model-(\d{5})-of-(\d{5})\.safetensors$/;

/** Formats that unpickle (run code) on load, or that we cannot validate: refused with a pointer to safetensors. */
const UNSAFE_WEIGHTS = /\.(bin|pt|pth|pkl|pickle|ckpt|joblib|npy|npz|h5|hdf5|msgpack|gguf|ggml|onnx|tflite|mlmodel)$/i;
const CODE_FILES = /\.(py|pyc|pyo|so|dll|dylib|exe|sh|bat|ps1|js)$/i;

const ALLOWED_KINDS_HINT =
  'allowed files are config.json, model.safetensors or model-0000i-of-0000N.safetensors with ' +
  'model.safetensors.index.json, generation_config.json, preprocessor_config.json, processor_config.json, ' +
  'tokenizer files (tokenizer.json, tokenizer_config.json, special_tokens_map.json, added_tokens.json, ' +
  'vocab.json, vocab.txt, merges.txt, tokenizer.model, spiece.model, chat_template.jinja, chat_template.json), ' +
  'README.md and LICENSE';

/** Throws ArtefactRejected('invalid_file_name') unless `name` is a safe top-level file name. */
export function assertSafeFileName(name: string): void {
  const reject = (why: string): never => {
    throw new ArtefactRejected(
      'invalid_file_name',
      `artefact file name ${JSON.stringify(name)} is not allowed: ${why}; ` +
        'model folders are flat, so upload each file under its plain name (e.g. config.json)',
      typeof name === 'string' ? name : undefined,
    );
  };
  if (typeof name !== 'string' || name.length === 0) reject('it is empty');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) reject('it contains a NUL or control character');
  if (/^[A-Za-z]:/.test(name)) reject('it starts with a Windows drive letter');
  if (name.startsWith('/') || name.startsWith('\\')) reject('it is an absolute path');
  if (name.includes('/') || name.includes('\\')) reject('it contains a path separator');
  if (name.includes('..')) reject('it contains ".."');
  if (name.startsWith('.')) reject('hidden files (leading ".") are not accepted');
  if (Buffer.byteLength(name, 'utf8') > MAX_FILE_NAME_BYTES) reject(`it is longer than ${MAX_FILE_NAME_BYTES} bytes`);
  if (!SAFE_FILE_NAME.test(name)) {
    reject('only ASCII letters, digits and . _ + - are accepted, starting with a letter or digit');
  }
}

export function isConfigFile(name: string): boolean {
  return name === CONFIG_FILE;
}

export function isSingleWeightsFile(name: string): boolean {
  return name === SINGLE_WEIGHTS_FILE;
}

export function isShardIndexFile(name: string): boolean {
  return name === SHARD_INDEX_FILE;
}

export interface ShardName {
  /** 1-based position of this shard. */
  index: number;
  /** Number of shards in the set. */
  total: number;
}

/** Parses `model-00002-of-00003.safetensors` into { index: 2, total: 3 }; undefined for any other name. */
export function parseShardName(name: string): ShardName | undefined {
  const match = SHARD_NAME.exec(name);
  if (!match) return undefined;
  return { index: Number(match[1]), total: Number(match[2]) };
}

export function shardFileName(index: number, total: number): string {
  const pad = (n: number): string => String(n).padStart(5, '0');
  return `model-${pad(index)}-of-${pad(total)}.safetensors`;
}

export function isSafetensorsFile(name: string): boolean {
  return name.endsWith('.safetensors');
}

/** Whether the inspector buffers and parses this file as JSON (see PARSED_JSON_FILES for why not all). */
export function isParsedJsonFile(name: string): boolean {
  return PARSED_JSON_FILES.has(name);
}

/**
 * Checks the name and says what kind of artefact it is, or throws ArtefactRejected:
 * 'invalid_file_name' for unsafe names, 'unexpected_file' for anything off the allow-list.
 */
export function classifyArtefact(name: string): ArtefactKind {
  assertSafeFileName(name);
  const exact = EXACT_NAMES.get(name);
  if (exact) return exact;

  const shard = parseShardName(name);
  if (shard) {
    if (shard.total === 0 || shard.index === 0 || shard.index > shard.total) {
      throw new ArtefactRejected(
        'invalid_file_name',
        `artefact shard name ${name} is not valid: shard ${shard.index} of ${shard.total} does not exist; ` +
          'shards are numbered model-00001-of-0000N.safetensors to model-0000N-of-0000N.safetensors',
        name,
      );
    }
    return 'weights_shard';
  }

  if (UNSAFE_WEIGHTS.test(name)) {
    throw new ArtefactRejected(
      'unexpected_file',
      `artefact ${name} is not accepted: only safetensors weights are accepted, because pickle-based and ` +
        'other formats can run code when loaded or cannot be validated; convert the weights to ' +
        'model.safetensors (e.g. save_pretrained(..., safe_serialization=True)) and upload that instead',
      name,
    );
  }
  if (CODE_FILES.test(name)) {
    throw new ArtefactRejected(
      'unexpected_file',
      `artefact ${name} is not accepted: model folders may not contain code; remove it (custom modelling ` + `code is not supported). ${ALLOWED_KINDS_HINT}`,
      name,
    );
  }
  throw new ArtefactRejected('unexpected_file', `artefact ${name} is not an accepted model file; remove it from the upload. ${ALLOWED_KINDS_HINT}`, name);
}
