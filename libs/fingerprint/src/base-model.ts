import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineError, runEngineJob, type EngineJobOptions, type TrainBaseResult, type TrainBaseSettings } from './engine';

/**
 * The built-in base models: small GPT-2-style models trained from scratch by the engine on the
 * pretraining part of the WordNet glosses (corpus.partition), cached per name so each host trains
 * a configuration once. base-v2 is shipped trained (libs/fingerprint/models/base-v2, the recipe
 * below, trained with 2 threads): it is trained to convergence, which takes about an hour on 2 cores, too long
 * for a first `npm start`. base-v1 (not converged: a fine-tune on fresh text improved it, so a thief
 * erasing fingerprints gained utility) is kept for comparison.
 */
/**
 * Which split of the corpus a recipe trains on (python/clopen_fp/corpus.py partition): part of
 * each recipe, so a model cached from an older split (whose training text overlapped the text now
 * kept for attacks) is retrained rather than reused.
 */
const CORPUS_SPLIT = 'wordnet-train/attack/heldout-1';

export const BASE_MODEL_CONFIGS = {
  'base-v2': { data: CORPUS_SPLIT, vocab_size: 2048, n_embd: 128, n_layer: 4, n_head: 4, n_positions: 64, steps: 1200, batch_size: 64, lr: 0.003, seed: 1234 },
  'base-v1': { data: CORPUS_SPLIT, vocab_size: 4096, n_embd: 192, n_layer: 4, n_head: 4, n_positions: 128, steps: 1000, batch_size: 32, lr: 0.003, seed: 1234 },
  'test-tiny': {
    data: CORPUS_SPLIT,
    vocab_size: 512,
    n_embd: 64,
    n_layer: 2,
    n_head: 2,
    n_positions: 64,
    steps: 150,
    batch_size: 16,
    lr: 0.003,
    seed: 7,
    corpus_lines: 8000,
  },
} as const satisfies Record<string, TrainBaseSettings>;

export type BaseModelName = keyof typeof BASE_MODEL_CONFIGS;

/** The base model the story, the benches and the CLI use unless told otherwise. */
export const DEFAULT_BASE_MODEL: BaseModelName = 'base-v2';

export const MODEL_FILES = ['config.json', 'model.safetensors', 'tokenizer.json'] as const;
/** Written last into a finished model folder: the config it was trained with and the training result. */
export const MODEL_STAMP = 'clopen-model.json';

export interface ModelStamp {
  name: string;
  config: TrainBaseSettings;
  result: TrainBaseResult;
  trainedAt: string;
}

export interface BaseModel {
  /** Folder holding config.json, model.safetensors, tokenizer.json, heldout.txt and the stamp. */
  dir: string;
  result: TrainBaseResult;
  /** False when the cache already held the model. */
  trained: boolean;
}

export interface EnsureBaseModelOptions extends Pick<EngineJobOptions, 'onProgress' | 'onLog' | 'signal' | 'python' | 'env'> {
  /** Defaults to $CLOPEN_MODEL_CACHE, else <repo root>/.local/models. */
  cacheDir?: string;
  /**
   * Trains the same recipe with another seed (initialisation and data order): an independently
   * trained model, as the fingerprint benchmark's null models are. Cached as `<name>-seed<seed>`.
   */
  seed?: number;
  /** torch threads for training; not part of the recipe (two 1-thread trainings beat one 2-thread one on 2 cores). */
  threads?: number;
}

/** Where the trained models shipped with the repository live (one folder per name). */
export function shippedModelsDir(): string | undefined {
  const root = findRepoRoot();
  return root ? path.join(root, 'libs', 'fingerprint', 'models') : undefined;
}

const LOCK_POLL_MS = 500;
const LOCK_HEARTBEAT_MS = 15_000;
/** A lock whose heartbeat stopped this long ago belongs to a process that died. */
const LOCK_STALE_MS = 120_000;

export function isBaseModelName(name: string): name is BaseModelName {
  return Object.prototype.hasOwnProperty.call(BASE_MODEL_CONFIGS, name);
}

/** The folder holding nx.json above this file, or undefined outside the repository. */
export function findRepoRoot(from: string = __dirname): string | undefined {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'nx.json'))) return dir;
    if (path.dirname(dir) === dir) return undefined;
  }
}

export function defaultModelCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CLOPEN_MODEL_CACHE) return env.CLOPEN_MODEL_CACHE;
  const root = findRepoRoot();
  return root ? path.join(root, '.local', 'models') : path.join(os.homedir(), '.cache', 'clopen', 'models');
}

/** JSON with sorted keys, so configs compare by content. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The stamp of a complete model folder trained with `config`, else undefined. */
async function readValidStamp(dir: string, config: TrainBaseSettings): Promise<ModelStamp | undefined> {
  try {
    const stamp = JSON.parse(await fs.readFile(path.join(dir, MODEL_STAMP), 'utf8')) as ModelStamp;
    if (canonical(stamp.config) !== canonical(config)) return undefined;
    await Promise.all(MODEL_FILES.map((file) => fs.access(path.join(dir, file))));
    return stamp;
  } catch {
    return undefined;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new EngineError('aborted', 'waiting for the base model aborted'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

interface LockOwner {
  pid: number;
  host: string;
}

/** True when the lock's owner is known dead or stopped refreshing it. */
async function lockIsStale(lockPath: string): Promise<boolean> {
  try {
    const [text, stat] = await Promise.all([fs.readFile(lockPath, 'utf8'), fs.stat(lockPath)]);
    if (Date.now() - stat.mtimeMs > LOCK_STALE_MS) return true;
    const owner = JSON.parse(text) as LockOwner;
    if (owner.host !== os.hostname()) return false;
    try {
      process.kill(owner.pid, 0);
      return false;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'ESRCH';
    }
  } catch {
    // Vanished (released) or half-written by an owner that is creating it right now.
    return false;
  }
}

/** Takes the lock with O_EXCL; returns false when another process holds it. */
async function tryLock(lockPath: string): Promise<boolean> {
  try {
    const handle = await fs.open(lockPath, 'wx');
    try {
      await handle.writeFile(JSON.stringify({ pid: process.pid, host: os.hostname() } satisfies LockOwner));
    } finally {
      await handle.close();
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/**
 * Returns the cached base model `name`, training it first when the cache lacks it or holds one
 * trained with another config. Concurrent callers (threads or processes) train it once: a lock
 * file makes the others wait, and the model is trained into a temporary folder that is renamed
 * into place only when complete, so a reader never sees a partial folder even if locking fails.
 */
export async function ensureBaseModel(name: BaseModelName = DEFAULT_BASE_MODEL, options: EnsureBaseModelOptions = {}): Promise<BaseModel> {
  if (!isBaseModelName(name)) throw new Error(`unknown base model ${JSON.stringify(name)}; known: ${Object.keys(BASE_MODEL_CONFIGS).join(', ')}`);
  const recipe: TrainBaseSettings = BASE_MODEL_CONFIGS[name];
  const variant = options.seed !== undefined && options.seed !== recipe.seed;
  const config: TrainBaseSettings = variant ? { ...recipe, seed: options.seed as number } : recipe;
  const cacheDir = path.resolve(options.cacheDir ?? defaultModelCacheDir());
  const dir = path.join(cacheDir, variant ? `${name}-seed${config.seed}` : name);

  const shipped = shippedModelsDir();
  if (!variant && shipped) {
    const stamp = await readValidStamp(path.join(shipped, name), config);
    if (stamp) return { dir: path.join(shipped, name), result: stamp.result, trained: false };
  }
  const cached = await readValidStamp(dir, config);
  if (cached) return { dir, result: cached.result, trained: false };

  await fs.mkdir(cacheDir, { recursive: true });
  const lockPath = path.join(cacheDir, `.${path.basename(dir)}.lock`);
  let announced = false;
  while (!(await tryLock(lockPath))) {
    if (await lockIsStale(lockPath)) {
      // Two waiters may both remove it; at worst both train, and the rename below keeps the folder whole.
      await fs.rm(lockPath, { force: true });
      continue;
    }
    if (!announced) {
      options.onLog?.({ t: 0, message: `waiting for another process training base model ${name} (lock ${lockPath})` });
      announced = true;
    }
    await sleep(LOCK_POLL_MS, options.signal);
    const done = await readValidStamp(dir, config);
    if (done) return { dir, result: done.result, trained: false };
  }

  const heartbeat = setInterval(() => {
    const now = new Date();
    fs.utimes(lockPath, now, now).catch(() => undefined);
  }, LOCK_HEARTBEAT_MS);
  const tmp = path.join(cacheDir, `.${path.basename(dir)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    // The previous holder may have finished between our first look and taking the lock.
    const done = await readValidStamp(dir, config);
    if (done) return { dir, result: done.result, trained: false };

    await fs.mkdir(tmp);
    const trainResult = await runEngineJob({ job: 'train-base', out: tmp, ...config, ...(options.threads ? { threads: options.threads } : {}) }, options);
    const result: TrainBaseResult = { ...trainResult, out: dir };
    const stamp: ModelStamp = { name, config, result, trainedAt: new Date().toISOString() };
    await fs.writeFile(path.join(tmp, MODEL_STAMP), JSON.stringify(stamp, null, 2) + '\n');
    // Only after a stale-lock race: keep the folder the other trainer installed, readers may hold it.
    const raced = await readValidStamp(dir, config);
    if (raced) return { dir, result: raced.result, trained: true };
    await install(tmp, dir);
    return { dir, result, trained: true };
  } finally {
    clearInterval(heartbeat);
    await fs.rm(tmp, { recursive: true, force: true });
    await fs.rm(lockPath, { force: true });
  }
}

/** Moves a finished folder into place, setting aside an outdated one first. */
async function install(tmp: string, dir: string): Promise<void> {
  const outdated = `${path.dirname(dir)}/.${path.basename(dir)}.old-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await fs.rename(dir, outdated);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  // rename(2) onto a non-empty folder fails instead of merging, so two trainers cannot mix files.
  await fs.rename(tmp, dir);
  await fs.rm(outdated, { recursive: true, force: true });
}
