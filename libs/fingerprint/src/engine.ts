import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { StringDecoder } from 'node:string_decoder';

/**
 * Runs the PyTorch fingerprint engine (`python3 -m clopen_fp -`, sources in ../python) as a
 * subprocess. The manifest goes to stdin; stdout carries only JSON lines (progress, log, one result
 * or one error), see python/clopen_fp/cli.py.
 */

/** Debian's interpreter: it has python3-torch, unlike a pyenv `python3` that may come first on PATH. */
const DEFAULT_PYTHON = '/usr/bin/python3';
/** The engine's Python package; the same relative path from src/ and from dist/. */
export const ENGINE_PYTHON_DIR = path.resolve(__dirname, '..', 'python');
const KILL_GRACE_MS = 5_000;
const STDERR_TAIL_CHARS = 4_000;
const STREAM_DRAIN_MS = 2_000;

/** Codes the engine prints in its error line, then the ones this side adds. */
export type EngineErrorCode =
  | 'bad_manifest'
  | 'missing_file'
  | 'invalid_input'
  | 'invalid_model'
  | 'corpus_unavailable'
  | 'out_of_memory'
  | 'internal'
  /** The interpreter cannot be started, or cannot import torch. */
  | 'engine_unavailable'
  /** The process exited non-zero or died from a signal without an error line. */
  | 'crashed'
  /** stdout held a line that is not a protocol JSON object, or the process exited 0 without a result. */
  | 'malformed_output'
  | 'timeout'
  | 'aborted';

export class EngineError extends Error {
  constructor(
    readonly code: EngineErrorCode,
    message: string,
    /** Exit status; null when the process was killed by a signal or never started. */
    readonly exitCode: number | null = null,
    /** The last few thousand characters of stderr (Python warnings, a traceback). */
    readonly stderrTail = '',
    readonly signal: NodeJS.Signals | null = null,
  ) {
    super(message);
    this.name = 'EngineError';
  }
}

export interface EngineProgress {
  /** Seconds since the engine started. */
  t: number;
  phase: string;
  percent: number;
  [field: string]: unknown;
}

export interface EngineLog {
  t: number;
  message: string;
  [field: string]: unknown;
}

/** Fields of the built-in base model's architecture and training run (python/clopen_fp/base.py). */
export interface TrainBaseSettings {
  /** The corpus split the recipe trains on (informational for the engine; part of the cache key). */
  data?: string;
  vocab_size: number;
  n_embd: number;
  n_layer: number;
  n_head: number;
  n_positions: number;
  steps: number;
  batch_size: number;
  lr: number;
  seed: number;
  /** Trains on a random sample of this many corpus lines (small test models). */
  corpus_lines?: number;
  /** torch threads; the engine uses every CPU when absent. */
  threads?: number;
}

export interface TrainBaseManifest extends TrainBaseSettings {
  job: 'train-base';
  /** Folder the model is written to: config.json, model.safetensors, tokenizer.json, heldout.txt. */
  out: string;
}

export interface TrainBaseResult {
  job: 'train-base';
  out: string;
  parameters: number;
  vocab_size: number;
  train_tokens: number;
  heldout_tokens: number;
  /** Mean next-token cross-entropy on held-out text, in nats. */
  heldout_loss: number;
  heldout_perplexity: number;
  train_loss: number;
  /** Tokens trained on: steps x batch_size x n_positions (the denominator of erase_tokens_ratio). */
  pretrain_tokens?: number;
  /** [step, loss] every 20 steps: what a rerun of the recipe is compared with. */
  loss_curve?: Array<[number, number]>;
  /** Seconds from the first training step to the end of the held-out evaluation (tokenizer excluded). */
  seconds: number;
  corpus: string;
}

export interface ExportOnnxManifest {
  job: 'export-onnx';
  /** Model folder: config.json, model.safetensors, tokenizer.json. */
  model: string;
  /** Path of the .onnx file; the engine writes `<model>/model.onnx` when absent. */
  out?: string;
  /** ONNX opset, 14 to 17; the engine uses 17 when absent. */
  opset?: number;
}

/**
 * The exported graph: input `input_ids` int64 [batch, seq] (seq at most n_positions), output
 * `logits` float32 [batch, vocab], the next-token logits at the last position only.
 */
export interface ExportOnnxResult extends EngineResult {
  job: 'export-onnx';
  out: string;
  bytes: number;
  sha256: string;
  opset: number;
  logits: 'last';
}

/** Jobs whose fields python/clopen_fp is still settling; typed loosely until then. */
export interface LooseManifest {
  job: 'generate' | 'embed' | 'verify' | 'attack' | 'bench';
  [field: string]: unknown;
}

export type EngineManifest = TrainBaseManifest | ExportOnnxManifest | LooseManifest;

export interface EngineResult {
  job: string;
  [field: string]: unknown;
}

export interface EngineJobOptions {
  onProgress?: (progress: EngineProgress) => void;
  onLog?: (log: EngineLog) => void;
  /** Called once the process started, e.g. to log its pid. */
  onSpawn?: (pid: number) => void;
  /** Aborting terminates the process (SIGTERM, then SIGKILL after 5 s) and rejects with code 'aborted'. */
  signal?: AbortSignal;
  /** Terminates the process like an abort and rejects with code 'timeout'. */
  timeoutMs?: number;
  /** Interpreter; defaults to enginePythonPath(). */
  python?: string;
  /** Extra environment for the process, over process.env. */
  env?: NodeJS.ProcessEnv;
  /** Working directory, against which relative paths in the manifest resolve; defaults to process.cwd(). */
  cwd?: string;
}

/** The interpreter that runs the engine: $CLOPEN_PYTHON, else Debian's /usr/bin/python3. */
export function enginePythonPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.CLOPEN_PYTHON || DEFAULT_PYTHON;
}

function engineEnv(extra: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  return {
    // glibc hands tensors over 32 MB (a batch's logits) back to the kernel after every step and
    // page-faults them in again: keeping them in the heap cut system time from 15 % to 4 % of a
    // training step here (0.84 -> 0.76 s per step of base-v2 on one thread).
    MALLOC_MMAP_THRESHOLD_: String(4 * 2 ** 30),
    MALLOC_TRIM_THRESHOLD_: String(8 * 2 ** 30),
    ...env,
    PYTHONPATH: env.PYTHONPATH ? `${ENGINE_PYTHON_DIR}${path.delimiter}${env.PYTHONPATH}` : ENGINE_PYTHON_DIR,
    PYTHONUNBUFFERED: '1',
    // Keeps __pycache__ folders out of the source tree.
    PYTHONDONTWRITEBYTECODE: '1',
  };
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Runs one engine job; resolves with the fields of its result line (without `type` and `t`). */
export function runEngineJob(manifest: TrainBaseManifest, options?: EngineJobOptions): Promise<TrainBaseResult>;
export function runEngineJob<R extends EngineResult = EngineResult>(manifest: EngineManifest, options?: EngineJobOptions): Promise<R>;
export function runEngineJob(manifest: EngineManifest, options: EngineJobOptions = {}): Promise<unknown> {
  const python = options.python ?? enginePythonPath(options.env ? { ...process.env, ...options.env } : process.env);
  return new Promise<EngineResult>((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(new EngineError('aborted', `engine job ${manifest.job} aborted before it started`));
      return;
    }
    const child = spawn(python, ['-m', 'clopen_fp', '-'], {
      cwd: options.cwd,
      env: engineEnv(options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
      // Its own process group, so a kill reaches whatever the engine started too.
      detached: true,
    });

    let stderrTail = '';
    let result: EngineResult | undefined;
    let errorLine: { code: EngineErrorCode; message: string } | undefined;
    /** Set when this side decided the outcome (abort, timeout, bad output); wins over the exit status. */
    let failure: EngineError | Error | undefined;
    let killedByUs = false;
    let killTimer: NodeJS.Timeout | undefined;
    let settled = false;

    const terminate = (why: EngineError | Error) => {
      failure ??= why;
      if (killedByUs || child.exitCode !== null || child.signalCode !== null) return;
      killedByUs = true;
      killGroup(child, 'SIGTERM');
      killTimer = setTimeout(() => killGroup(child, 'SIGKILL'), KILL_GRACE_MS);
    };

    const onAbort = () => terminate(new EngineError('aborted', `engine job ${manifest.job} aborted`));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const timeout =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => terminate(new EngineError('timeout', `engine job ${manifest.job} ran past its ${options.timeoutMs} ms limit`)), options.timeoutMs);

    const handleLine = (line: string) => {
      if (line.trim() === '' || failure) return;
      let message: unknown;
      try {
        message = JSON.parse(line);
      } catch {
        message = undefined;
      }
      if (!isObject(message) || typeof message.type !== 'string') {
        terminate(new EngineError('malformed_output', `engine printed a line that is not a protocol message: ${line.slice(0, 200)}`));
        return;
      }
      const { type, ...fields } = message;
      try {
        if (type === 'progress') options.onProgress?.(fields as EngineProgress);
        else if (type === 'log') options.onLog?.(fields as EngineLog);
        else if (type === 'result') {
          delete fields.t;
          result = fields as EngineResult;
        } else if (type === 'error') {
          errorLine = {
            code: (typeof fields.code === 'string' ? fields.code : 'internal') as EngineErrorCode,
            message: typeof fields.message === 'string' ? fields.message : JSON.stringify(fields),
          };
        }
        // Other types are for newer callers; ignoring them keeps old ones working.
      } catch (error) {
        // A throwing callback stops the job: the caller can no longer follow it.
        terminate(error instanceof Error ? error : new Error(String(error)));
      }
    };

    const decoder = new StringDecoder('utf8');
    let pending = '';
    child.stdout.on('data', (chunk: Buffer) => {
      pending += decoder.write(chunk);
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        handleLine(line);
      }
    });
    child.stdout.on('end', () => {
      pending += decoder.end();
      if (pending) handleLine(pending);
      pending = '';
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      stderrTail = (stderrTail + text).slice(-STDERR_TAIL_CHARS);
    });
    child.on('spawn', () => {
      if (child.pid !== undefined) options.onSpawn?.(child.pid);
    });
    // The engine may exit before reading all of stdin (e.g. it fails to start); the exit status tells why.
    child.stdin.on('error', () => undefined);
    child.stdin.end(JSON.stringify(manifest));

    const settle = (error: Error | undefined, value?: EngineResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timeout);
      clearTimeout(killTimer);
      options.signal?.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve(value as EngineResult);
    };

    child.on('error', (error: NodeJS.ErrnoException) => {
      if (child.pid !== undefined) return; // a kill() failure on a running process; 'close' follows
      settle(
        new EngineError(
          'engine_unavailable',
          `cannot start the engine interpreter ${python}: ${error.message}; ` +
            'install Debian python3 with python3-torch, or set CLOPEN_PYTHON to a Python that has torch',
        ),
      );
    });

    child.on('exit', () => {
      // A leftover descendant may hold stdout open; do not wait on it for long.
      setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
      }, STREAM_DRAIN_MS).unref();
    });

    child.on('close', (exitCode: number | null, signal: NodeJS.Signals | null) => {
      if (child.pid === undefined) return; // never started; 'error' settles
      const fail = (code: EngineErrorCode, message: string) => settle(new EngineError(code, message, exitCode, stderrTail, signal));
      if (failure instanceof EngineError) {
        return settle(new EngineError(failure.code, failure.message, exitCode, stderrTail, signal));
      }
      if (failure) return settle(failure);
      if (errorLine) return fail(errorLine.code, `engine job ${manifest.job} failed: ${errorLine.message}`);
      if (signal === 'SIGKILL') {
        // Nobody here sent it: on Linux that is the OOM killer.
        return fail(
          'out_of_memory',
          `engine job ${manifest.job} was killed (SIGKILL), most likely by the kernel's out-of-memory killer; ` +
            'lower batch_size or the model size, or give the host more memory',
        );
      }
      const lastStderr = stderrTail.trim().split('\n').slice(-1)[0] ?? '';
      if (signal) return fail('crashed', `engine job ${manifest.job} died from ${signal}${lastStderr ? `: ${lastStderr}` : ''}`);
      if (exitCode !== 0) {
        return fail(
          exitCode === 4 ? 'out_of_memory' : 'crashed',
          `engine job ${manifest.job} exited with status ${exitCode} without an error line` + (lastStderr ? `: ${lastStderr}` : ''),
        );
      }
      if (!result) return fail('malformed_output', `engine job ${manifest.job} exited without a result line`);
      settle(undefined, result);
    });
  });
}

/**
 * Exports a model folder to ONNX (`out`, else `<modelDir>/model.onnx`) for hosts that serve it
 * without PyTorch, such as `@clopen/inference`.
 */
export function exportOnnx(modelDir: string, out?: string, options: EngineJobOptions & { opset?: number } = {}): Promise<ExportOnnxResult> {
  const { opset, ...jobOptions } = options;
  const manifest: ExportOnnxManifest = { job: 'export-onnx', model: modelDir };
  if (out !== undefined) manifest.out = out;
  if (opset !== undefined) manifest.opset = opset;
  return runEngineJob<ExportOnnxResult>(manifest, jobOptions);
}

export interface EngineCheck {
  python: string;
  pythonVersion: string;
  torchVersion: string;
  /** torch sees a CUDA device. */
  cuda: boolean;
  /** `transformers` is importable, so Hugging Face models can be driven by the same manifests. */
  transformers: boolean;
}

const CHECK_SCRIPT = `
import importlib.util, json, sys
out = {"python": sys.version.split()[0], "engine": importlib.util.find_spec("clopen_fp") is not None,
       "transformers": importlib.util.find_spec("transformers") is not None}
try:
    import torch
    out["torch"] = torch.__version__
    out["cuda"] = bool(torch.cuda.is_available())
except Exception as e:
    out["torch_error"] = f"{e.__class__.__name__}: {e}"
print(json.dumps(out))
`;

/** Verifies the interpreter starts and imports torch; returns the versions it found. */
export function checkEngine(options: { python?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<EngineCheck> {
  const python = options.python ?? enginePythonPath(options.env ? { ...process.env, ...options.env } : process.env);
  return new Promise((resolve, reject) => {
    execFile(
      python,
      ['-c', CHECK_SCRIPT],
      { env: engineEnv(options.env), timeout: options.timeoutMs ?? 120_000, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error) {
          const unavailable = (error as NodeJS.ErrnoException).code === 'ENOENT';
          return reject(
            new EngineError(
              'engine_unavailable',
              unavailable
                ? `the engine interpreter ${python} does not exist; install Debian's python3 with the packages ` +
                    'python3-torch and libopenblas0-pthread, or set CLOPEN_PYTHON'
                : `the engine interpreter ${python} failed to start: ${error.message}`,
              typeof error.code === 'number' ? error.code : null,
              stderr.slice(-STDERR_TAIL_CHARS),
            ),
          );
        }
        let found: Record<string, unknown>;
        try {
          found = JSON.parse(stdout.trim().split('\n').slice(-1)[0] ?? '') as Record<string, unknown>;
        } catch {
          return reject(new EngineError('malformed_output', `${python} printed unexpected output: ${stdout.slice(0, 200)}`));
        }
        if (typeof found.torch !== 'string') {
          return reject(
            new EngineError(
              'engine_unavailable',
              `${python} cannot import torch (${String(found.torch_error)}): install the Debian packages ` +
                'python3-torch and libopenblas0-pthread, or set CLOPEN_PYTHON to a Python that has torch',
              0,
              stderr.slice(-STDERR_TAIL_CHARS),
            ),
          );
        }
        if (found.engine !== true) {
          return reject(new EngineError('engine_unavailable', `${python} cannot find the engine package clopen_fp in ${ENGINE_PYTHON_DIR}`));
        }
        resolve({
          python,
          pythonVersion: String(found.python),
          torchVersion: found.torch,
          cuda: found.cuda === true,
          transformers: found.transformers === true,
        });
      },
    );
  });
}
