/**
 * `npm run model:base [name] [--seed N] [--threads T]`: trains the built-in base model (with --seed N, an
 * independently trained copy of its recipe) unless the cache or the repository holds it, shows
 * progress on stderr and prints one benchmark JSON line per metric on stdout.
 */
import { BASE_MODEL_CONFIGS, DEFAULT_BASE_MODEL, ensureBaseModel, isBaseModelName } from '../base-model';
import { EngineError } from '../engine';

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const seedAt = args.indexOf('--seed');
  const seed = seedAt >= 0 ? Number(args.splice(seedAt, 2)[1]) : undefined;
  if (seed !== undefined && !Number.isInteger(seed)) {
    process.stderr.write('--seed takes an integer: the seed of an independently trained copy of the recipe\n');
    return 2;
  }
  const threadsAt = args.indexOf('--threads');
  const threads = threadsAt >= 0 ? Number(args.splice(threadsAt, 2)[1]) : undefined;
  const name = args[0] ?? DEFAULT_BASE_MODEL;
  if (!isBaseModelName(name)) {
    process.stderr.write(`unknown base model ${JSON.stringify(name)}; choose one of ${Object.keys(BASE_MODEL_CONFIGS).join(', ')}\n`);
    return 2;
  }
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  process.once('SIGTERM', () => abort.abort());

  const started = Date.now();
  const { dir, result, trained } = await ensureBaseModel(name, {
    signal: abort.signal,
    seed,
    threads,
    onProgress: ({ phase, percent, t, ...rest }) => {
      const details = Object.entries(rest)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');
      process.stderr.write(`[${t.toFixed(1)}s] ${phase} ${percent.toFixed(1)}% ${details}\n`);
    },
    onLog: ({ message }) => process.stderr.write(`${message}\n`),
  });
  process.stderr.write(`base model ${name} ${trained ? 'trained' : 'found in the cache'}: ${dir}\n`);

  const line = (metric: string, value: number, unit: string) =>
    process.stdout.write(JSON.stringify({ bench: 'model', model: name, cached: !trained, metric, value, unit }) + '\n');
  line('heldout_perplexity', result.heldout_perplexity, 'ppl');
  line('heldout_loss', result.heldout_loss, 'nats');
  line('parameters', result.parameters, 'count');
  line('train_seconds', result.seconds, 's');
  line('wall_seconds', Math.round((Date.now() - started) / 100) / 10, 's');
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof EngineError) {
      process.stderr.write(`model:base failed (${error.code}): ${error.message}\n`);
      if (error.stderrTail) process.stderr.write(`engine stderr:\n${error.stderrTail}\n`);
    } else {
      process.stderr.write(`model:base failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    }
    process.exitCode = 1;
  },
);
