import { engineError } from './engine-error';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  BASE_MODEL_CONFIGS,
  checkEngine,
  ensureBaseModel,
  enginePythonPath,
  exportOnnx,
  MODEL_STAMP,
  readSafetensors,
  runEngineJob,
  type EngineProgress,
  type TrainBaseManifest,
  writeSafetensors,
} from '../src';

/**
 * Runs the real PyTorch engine with Debian's /usr/bin/python3 (python3-torch, wordnet-base).
 * Training competes for the CPU with whatever else runs, hence the generous limits.
 */

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('fingerprint engine (real Python)', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'clopen-engine-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('finds python and torch', async () => {
    const found = await checkEngine();
    expect(found.python).toBe(enginePythonPath());
    expect(found.pythonVersion).toMatch(/^3\.\d+/);
    expect(found.torchVersion).toMatch(/^\d+\.\d+/);
    expect(typeof found.cuda).toBe('boolean');
  });

  it('says which Debian packages to install when torch cannot be imported', async () => {
    const noTorch = path.join(tmp, 'no-torch');
    mkdirSync(path.join(noTorch, 'torch'), { recursive: true });
    writeFileSync(path.join(noTorch, 'torch', '__init__.py'), 'raise ImportError("libopenblas.so.0: cannot open shared object file")\n');
    const error = await engineError(checkEngine({ env: { PYTHONPATH: noTorch } }));
    expect(error.code).toBe('engine_unavailable');
    expect(error.message).toMatch(/install the Debian packages python3-torch and libopenblas0-pthread/);
    expect(error.message).toMatch(/libopenblas\.so\.0/);
  });

  it('rejects an unknown job as a bad manifest with exit status 2', async () => {
    const error = await engineError(runEngineJob({ job: 'distil' } as never));
    expect(error).toMatchObject({ code: 'bad_manifest', exitCode: 2 });
    expect(error.message).toMatch(/unknown job 'distil'/);
  });

  it('rejects a model folder that does not exist with exit status 3', async () => {
    const missing = path.join(tmp, 'no-such-model');
    const error = await engineError(runEngineJob({ job: 'generate', model: missing, count: 2 }));
    expect(['missing_file', 'invalid_model']).toContain(error.code);
    expect(error.exitCode).toBe(3);
    expect(error.message).toContain(missing);
  });

  it('trains the tiny base model once, then returns it from the cache', async () => {
    const cacheDir = path.join(tmp, 'models');
    // Two callers at once: one trains, the other waits on the lock and gets the same folder.
    const progress: EngineProgress[][] = [[], []];
    const both = await Promise.all([0, 1].map((i) => ensureBaseModel('test-tiny', { cacheDir, onProgress: (p) => progress[i].push(p) })));
    expect(both.map((b) => b.trained).sort()).toEqual([false, true]);
    const trainer = both.findIndex((b) => b.trained);
    const [first, waiter] = [both[trainer], both[1 - trainer]];
    expect(waiter).toEqual({ dir: first.dir, result: first.result, trained: false });
    expect(progress[1 - trainer]).toEqual([]);
    expect(readdirSync(cacheDir)).toEqual(['test-tiny']);
    expect(first.dir).toBe(path.join(cacheDir, 'test-tiny'));
    expect(progress[trainer].some((p) => p.phase === 'train')).toBe(true);
    expect(progress[trainer][progress[trainer].length - 1].percent).toBe(100);
    expect(first.result).toMatchObject({ job: 'train-base', out: first.dir, vocab_size: 512 });
    expect(first.result.heldout_perplexity).toBeGreaterThan(1);
    // Untrained, a 512-token model is near 512; training must have taught it something.
    expect(first.result.heldout_perplexity).toBeLessThan(400);

    const file = readFileSync(path.join(first.dir, 'model.safetensors'));
    const weights = readSafetensors(file);
    expect(weights.tensors['wte.weight']).toMatchObject({ dtype: 'F32', shape: [512, 64] });
    expect(weights.metadata.format).toBe('pt');
    // The two writers agree byte for byte.
    expect(writeSafetensors(weights.tensors, weights.metadata).equals(file)).toBe(true);
    const stamp = JSON.parse(readFileSync(path.join(first.dir, MODEL_STAMP), 'utf8'));
    expect(stamp.config).toEqual(BASE_MODEL_CONFIGS['test-tiny']);

    const started = Date.now();
    const onProgress = jest.fn();
    const second = await ensureBaseModel('test-tiny', { cacheDir, onProgress });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(onProgress).not.toHaveBeenCalled();
    expect(second).toEqual({ dir: first.dir, result: first.result, trained: false });
  });

  it('exports the tiny model to ONNX', async () => {
    // The folder the previous test trained into this suite's cache.
    const { dir, trained } = await ensureBaseModel('test-tiny', { cacheDir: path.join(tmp, 'models') });
    expect(trained).toBe(false);
    const out = path.join(tmp, 'onnx', 'tiny.onnx');
    const result = await exportOnnx(dir, out, { opset: 14 });
    expect(result).toMatchObject({ job: 'export-onnx', out, opset: 14, logits: 'last' });
    const file = readFileSync(out);
    expect(result.bytes).toBe(file.length);
    expect(result.sha256).toBe(createHash('sha256').update(file).digest('hex'));
    expect(existsSync(path.join(dir, 'model.onnx'))).toBe(false);
  });

  it('kills the process when the job is aborted', async () => {
    const controller = new AbortController();
    let pid = 0;
    const manifest: TrainBaseManifest = { job: 'train-base', out: path.join(tmp, 'aborted'), ...BASE_MODEL_CONFIGS['test-tiny'], steps: 100_000 };
    const error = await engineError(
      runEngineJob(manifest, {
        signal: controller.signal,
        onSpawn: (p) => (pid = p),
        onProgress: (p) => {
          if (p.phase === 'train') controller.abort();
        },
      }),
    );
    expect(error.code).toBe('aborted');
    expect(error.signal).toBe('SIGTERM');
    expect(pid).toBeGreaterThan(0);
    expect(isAlive(pid)).toBe(false);
    expect(existsSync(path.join(manifest.out, 'model.safetensors'))).toBe(false);
  });
});
