/**
 * `npm run bench:fingerprint`: on the built-in base model (trained once and cached), embeds 1024
 * fingerprints and measures recall, utility, false verdicts, and survival under each attack.
 * Progress goes to stderr; stdout gets one JSON line per metric. BENCH_FP_COUNT, BENCH_FP_OTHERS
 * and BENCH_FP_MODEL shrink the run for a quick look (the goals are stated for the defaults).
 */
import { ensureBaseModel, isBaseModelName } from '../base-model';
import { EngineError, runEngineJob, type EngineResult } from '../engine';

const UNITS: Record<string, string> = {
  recall: 'fraction',
  heldout_loss_increase: 'fraction',
  false_verdicts: 'count',
  verdicts: 'count',
  int8_detected: 'bool',
  finetune_retention: 'fraction',
  finetune_tokens: 'tokens',
  false_gating_rate: 'fraction',
  null_rate: 'probability',
  null_measured: 'fraction',
  embed_steps: 'steps',
  averaging_alpha: 'fraction',
};

async function main(): Promise<number> {
  const modelName = process.env.BENCH_FP_MODEL ?? 'base-v1';
  if (!isBaseModelName(modelName)) throw new Error(`unknown base model ${modelName}`);
  const log = (line: string) => process.stderr.write(`[bench:fingerprint] ${line}\n`);
  const { dir } = await ensureBaseModel(modelName, { onProgress: (p) => log(`base model ${p.phase} ${p.percent.toFixed(0)}%`) });
  const result = await runEngineJob<EngineResult & { metrics: Record<string, number | null> }>(
    {
      job: 'bench',
      base: dir,
      count: Number(process.env.BENCH_FP_COUNT ?? 1024),
      other_copies: Number(process.env.BENCH_FP_OTHERS ?? 16),
      seed: 1,
    },
    {
      onProgress: ({ phase, percent, t, ...rest }) => log(`[${t.toFixed(0)}s] ${phase} ${percent.toFixed(1)}% ${Object.entries(rest).map(([k, v]) => `${k}=${v}`).join(' ')}`),
      onLog: ({ message }) => log(message),
    },
  );
  for (const [metric, value] of Object.entries(result.metrics)) {
    if (value === null || value === undefined) continue;
    const unit = metric.startsWith('retention_') ? 'fraction' : metric.startsWith('embed_minutes') ? 'min' : (UNITS[metric] ?? '');
    process.stdout.write(JSON.stringify({ bench: 'fingerprint', metric, value: Math.round(Number(value) * 1e6) / 1e6, unit }) + '\n');
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`bench:fingerprint failed: ${error instanceof EngineError ? `${error.code}: ${error.message}\n${error.stderrTail ?? ''}` : String(error)}\n`);
    process.exitCode = 1;
  },
);
