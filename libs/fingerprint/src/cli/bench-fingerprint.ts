/**
 * `npm run bench:fingerprint [-- --quick]`: does a fingerprinted copy of the shipped base model
 * survive a real thief, measured so that the figures cannot flatter the engine (see
 * python/clopen_fp/bench.py for the method, libs/fingerprint/README.md for the threat model).
 *
 * Full run: base-v2 (shipped), 1024 fingerprints, null rate from three independently trained
 * copies of the base recipe (seeds 1235-1237, trained into the model cache on the first run, about
 * 20 min each on 2 cores), fine-tune erasure at lr 5e-4, 1e-3 and 1e-4, a LoRA fine-tune, int8 and
 * int4, ten unseen wrappers, and a coalition of three real copies merged four ways and traced with
 * libs/tracing among 64 hosts. `--quick` checks the same machinery on test-tiny in about two
 * minutes (CI runs it); its numbers are not the goals' numbers.
 *
 * Progress goes to stderr; stdout gets one JSON line per metric.
 */
import * as path from 'node:path';
import { BASE_MODEL_CONFIGS, DEFAULT_BASE_MODEL, defaultModelCacheDir, ensureBaseModel, type BaseModelName } from '../base-model';
import { EngineError, runEngineJob, type EngineResult } from '../engine';
import { planAssignment } from '@clopen/tracing';
import { BENCH_COALITION, BENCH_HOSTS, traceCoalition, type CoalitionRun } from './bench-coalition';

export type BenchLine = { bench: 'fingerprint'; metric: string; value: number; unit: string };

const UNITS: Record<string, string> = {
  recall: 'fraction',
  utility_cost: 'fraction',
  attack_utility_gap: 'fraction',
  base_finetune_gain: 'fraction',
  false_verdicts: 'count',
  verdicts: 'count',
  null_rate_independent: 'probability',
  null_measured: 'fraction',
  null_asked: 'count',
  null_models: 'count',
  null_sets: 'count',
  matches_needed: 'count',
  embed_steps: 'steps',
  averaging_alpha: 'fraction',
  fingerprint_tokens: 'tokens',
  wrappers_heldout: 'count',
  false_gating_rate: 'fraction',
  bench_minutes: 'min',
};

function unit(metric: string): string {
  if (UNITS[metric]) return UNITS[metric];
  if (metric.startsWith('erase_tokens_ratio')) return 'ratio';
  if (metric.startsWith('erase_survived') || metric.startsWith('wrapper_detected')) return metric.startsWith('erase') ? 'bool' : 'fraction';
  if (metric.startsWith('null_rate')) return 'probability';
  if (metric.endsWith('_detected') || metric.startsWith('detected_') || metric.startsWith('traced_')) return metric.startsWith('traced_') ? 'fraction' : 'bool';
  if (metric.startsWith('retention_') || metric.startsWith('wrapper_retention') || metric.startsWith('coalition_')) return 'fraction';
  if (metric.startsWith('embed_minutes')) return 'min';
  if (metric.startsWith('heldout_loss')) return 'nats';
  return '';
}

export type FingerprintBenchOptions = { quick?: boolean; log?: (line: string) => void };

/** The manifest of one run: the full bench, or the quick machinery check on test-tiny. */
function manifest(quick: boolean) {
  if (quick) {
    return {
      count: 64,
      other_copies: 1,
      other_count: 32,
      heldout_windows: 40,
      embed: { max_steps: 600, check_every: 25, batch_size: 32, lr: 0.002 },
      coalition: { keys: 48, p: 0.5 },
      erase_lrs: ['1e-3'],
      threads: 1,
    };
  }
  // Real copies hold 256 asked keys each with the platform plan's p (64 hosts, K = 3); the plan's
  // own 927 keys per audit are simulated (libs/tracing) with the soup measured on these copies.
  const plan = planAssignment({ hosts: BENCH_HOSTS, coalition: BENCH_COALITION });
  return { count: 1024, other_copies: 2, other_count: 128, coalition: { keys: 256, p: plan.p }, erase_lrs: ['1e-3', '1e-4'], threads: 2 };
}

export async function runFingerprintBench(options: FingerprintBenchOptions = {}): Promise<BenchLine[]> {
  const quick = options.quick ?? false;
  const log = options.log ?? (() => undefined);
  const model: BaseModelName = quick ? 'test-tiny' : ((process.env.BENCH_FP_MODEL as BaseModelName | undefined) ?? DEFAULT_BASE_MODEL);
  if (!(model in BASE_MODEL_CONFIGS)) throw new Error(`unknown base model ${model}`);
  const onProgress = (what: string) => (p: { phase: string; percent: number }) => log(`${what} ${p.phase} ${p.percent.toFixed(0)}%`);
  const base = await ensureBaseModel(model, { onProgress: onProgress(model) });
  const recipe = BASE_MODEL_CONFIGS[model];
  const nullSeeds = [1, 2, 3].map((i) => recipe.seed + i);
  const nulls: string[] = [];
  // BENCH_FP_NULLS_TRAINING=1: the null bases are being trained by other processes right now
  // (npm run model:base -- base-v2 --seed N); the engine waits for them after its embedding phases.
  const overlap = process.env.BENCH_FP_NULLS_TRAINING === '1';
  for (const seed of nullSeeds) {
    if (overlap) nulls.push(path.join(defaultModelCacheDir(), `${model}-seed${seed}`));
    else nulls.push((await ensureBaseModel(model, { seed, onProgress: onProgress(`${model} seed ${seed}`) })).dir);
  }
  const pretrainTokens = base.result.pretrain_tokens ?? recipe.steps * recipe.batch_size * recipe.n_positions;

  const result = await runEngineJob<EngineResult & { metrics: Record<string, number | null>; coalition: CoalitionRun | null }>(
    {
      job: 'bench',
      quick,
      base: base.dir,
      null_bases: nulls,
      pretrain_tokens: pretrainTokens,
      seed: 1,
      ...manifest(quick),
      ...(overlap ? { wait_null_bases_s: 7200 } : {}),
    },
    {
      onProgress: ({ phase, percent, t, ...rest }) =>
        log(
          `[${t.toFixed(0)}s] ${phase} ${percent.toFixed(1)}% ${Object.entries(rest)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}`,
        ),
      onLog: ({ message }) => log(message),
    },
  );
  const metrics: Record<string, number | null> = { ...result.metrics, pretrain_tokens: pretrainTokens };
  if (result.coalition) {
    // Tracing is judged at the recall a coalition keeps after the serving attacks that cost it no
    // utility (int4, a LoRA fine-tune), capped at the plan's 0.9; never the clean recall, which is
    // the embedding's stopping target. Fine-tuning to erasure is erase_tokens_ratio's business.
    const recall = Math.min(0.9, Number(metrics.retention_int4 ?? 0), Number(metrics['retention_lora_r8_lr1e-3'] ?? 0));
    Object.assign(metrics, traceCoalition(result.coalition, recall, Number(metrics.null_rate_used ?? 1e-3), log));
  }
  const lines: BenchLine[] = [];
  for (const [metric, value] of Object.entries(metrics)) {
    if (value === null || value === undefined || !Number.isFinite(Number(value))) continue;
    lines.push({ bench: 'fingerprint', metric, value: Number(Number(value).toPrecision(6)), unit: unit(metric) });
  }
  return lines;
}

if (require.main === module) {
  const quick = process.argv.includes('--quick');
  runFingerprintBench({ quick, log: (line) => process.stderr.write(`[bench:fingerprint] ${line}\n`) }).then(
    (lines) => {
      for (const line of lines) process.stdout.write(JSON.stringify(line) + '\n');
    },
    (error: unknown) => {
      process.stderr.write(
        `bench:fingerprint failed: ${error instanceof EngineError ? `${error.code}: ${error.message}\n${error.stderrTail ?? ''}` : String(error)}\n`,
      );
      process.exitCode = 1;
    },
  );
}
