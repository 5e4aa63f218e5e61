import { Inject, Injectable, Logger } from '@nestjs/common';
import { UnrecoverableError, type Job } from 'bullmq';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Redis from 'ioredis';
import { Bus } from '@clopen/bus';
import {
  SealError,
  cancelKey,
  copyContext,
  poolContext,
  type EmbedCopyJob,
  type EmbedCopyResult,
  type GeneratePoolJob,
  type GeneratePoolResult,
} from '@clopen/embedding-jobs';
import { EngineError, runEngineJob, type EngineJobOptions } from '@clopen/fingerprint';
import { CONFIG } from '@clopen/service-kit';
import { StorageClient, ApiProblem, type StoredVersion } from '@clopen/storage-client';
import type { EmbedderConfig } from '../embedder.settings';
import { ProgressReporter } from './progress';

type Fingerprint = { key: string; response: string };

/** Engine failures that another attempt cannot fix: the input itself is wrong. */
const FINAL_ENGINE_CODES = new Set(['bad_manifest', 'missing_file', 'invalid_input', 'invalid_model', 'engine_unavailable']);

/** Failures a retry cannot fix end the job now, with the reason; anything else is retried with backoff. */
function classify(e: unknown, what: string): Error {
  if (e instanceof UnrecoverableError) return e;
  if (e instanceof EngineError && e.code === 'aborted') return new UnrecoverableError(`${what} cancelled`);
  if (e instanceof EngineError && FINAL_ENGINE_CODES.has(e.code)) return new UnrecoverableError(`${what} failed (${e.code}): ${e.message}`);
  if (e instanceof SealError)
    return new UnrecoverableError(`${what}: the job's sealed secrets do not open (${e.message}); EMBEDDING_JOB_KEYS must match distribution's`);
  if (e instanceof ApiProblem && (e.code === 'corrupt_artefact' || e.status === 404 || e.status === 400 || e.status === 422)) {
    return new UnrecoverableError(`${what} failed: ${e.message}`);
  }
  return e instanceof Error ? new Error(`${what} failed: ${e.message}`) : new Error(`${what} failed: ${String(e)}`);
}

/**
 * What one embedder does with a job: generate a version's pool, or make one host's copy (download
 * the base, embed the host's fingerprints, verify every one of them on the written copy, store the
 * copy as an `oml` version whose parent is the base). Each job works in its own folder, removed at the end.
 */
@Injectable()
export class EmbeddingJobsService {
  private readonly log = new Logger(EmbeddingJobsService.name);
  readonly storage: StorageClient;

  constructor(
    @Inject(CONFIG) private readonly config: EmbedderConfig,
    private readonly bus: Bus,
    private readonly redis: Redis,
  ) {
    this.storage = new StorageClient(config.STORAGE_URL, config.STORAGE_API_KEY);
  }

  async generatePool(job: Job<GeneratePoolJob>, signal?: AbortSignal): Promise<GeneratePoolResult> {
    const d = job.data;
    const progress = new ProgressReporter(job, this.config.EMBEDDER_PROGRESS_STEP);
    return this.inWorkDir(job, `generating the pool of version ${d.versionId}`, async (dir) => {
      await this.checkCancelled(job);
      const base = await this.download(d.versionId, join(dir, 'base'), (f) => progress.report('download', 20 * f));
      const out = join(dir, 'pool.json');
      await runEngineJob(
        {
          job: 'generate',
          model: base,
          count: d.count,
          key_strategy: d.strategy.keyStrategy,
          response_strategy: d.strategy.responseStrategy,
          key_length: d.strategy.keyLength,
          seed: d.seed,
          out,
          threads: this.config.EMBEDDER_THREADS,
        },
        this.engineOptions(signal, (p) => progress.report('generate', 20 + 0.8 * p.percent)),
      );
      const pool = JSON.parse(await readFile(out, 'utf8')) as Fingerprint[];
      progress.report('done', 100);
      return { sealedPool: this.config.EMBEDDING_JOB_KEYS.sealJson(pool, poolContext(d.poolId)), count: pool.length };
    });
  }

  async embedCopy(job: Job<EmbedCopyJob>, signal?: AbortSignal): Promise<EmbedCopyResult> {
    const d = job.data;
    const what = `the copy for licence ${d.licenceId}`;
    const progress = new ProgressReporter(job, this.config.EMBEDDER_PROGRESS_STEP, this.bus, d);
    return this.inWorkDir(job, what, async (dir) => {
      await this.checkCancelled(job);
      const fingerprints = this.config.EMBEDDING_JOB_KEYS.openJson<Fingerprint[]>(d.sealedFingerprints, copyContext(d.licenceId));
      const fpsFile = join(dir, 'fingerprints.json');
      await writeFile(fpsFile, JSON.stringify(fingerprints), { mode: 0o600 });

      // A worker that died after storing the copy left it under the licence's label: verify and reuse it.
      const stored = await this.storage.findVersion(d.modelId, d.copyLabel);
      if (stored) {
        const folder = await this.download(stored.id, join(dir, 'stored'), (f) => progress.phase('download', f));
        const embedded = await this.verify(folder, fpsFile, signal, progress, d.minRecall, what);
        progress.phase('upload', 1);
        return {
          copyVersionId: stored.id,
          count: fingerprints.length,
          embedded,
          recall: embedded / fingerprints.length,
          heldoutLossIncrease: null,
          reused: true,
        };
      }

      const base = await this.storage.getVersion(d.versionId);
      const basePath = await this.download(d.versionId, join(dir, 'base'), (f) => progress.phase('download', f), base);
      const out = join(dir, 'copy');
      const report = await runEngineJob<{ job: string; embedded: number; count: number; heldout_loss_increase: number | null }>(
        {
          job: 'embed',
          base: basePath,
          fingerprints: fpsFile,
          out,
          seed: d.seed,
          min_recall: d.minRecall,
          max_steps: this.config.EMBEDDER_MAX_STEPS,
          batch_size: this.config.EMBEDDER_BATCH_SIZE,
          check_every: this.config.EMBEDDER_CHECK_EVERY,
          threads: this.config.EMBEDDER_THREADS,
          // Hosts without PyTorch serve the copy's ONNX graph (services/host-gateway).
          onnx: this.config.EMBEDDER_ONNX,
        },
        this.engineOptions(signal, (p) => (p.phase === 'verify' ? progress.phase('embed', 1) : progress.phase('embed', p.percent / 100))),
      );
      const embedded = await this.verify(out, fpsFile, signal, progress, d.minRecall, what);
      // A cancel whose message this worker missed (a Redis reconnect) still stops the copy here.
      await this.checkCancelled(job);
      progress.phase('upload', 0);
      const files = (await readdir(out)).filter((f) => !f.startsWith('.')).sort();
      let copy: StoredVersion;
      try {
        copy = await this.storage.uploadVersion(d.modelId, out, files, { label: d.copyLabel, kind: 'oml', parents: [d.versionId], licence: base.licence });
      } catch (e) {
        // Another worker holding the same job (a lost lock) stored it first: one copy either way.
        const raced = e instanceof ApiProblem && e.status === 409 ? await this.storage.findVersion(d.modelId, d.copyLabel) : undefined;
        if (!raced) throw e;
        copy = raced;
      }
      progress.phase('upload', 1);
      this.log.log(`${what}: ${embedded}/${fingerprints.length} fingerprints verified, stored as version ${copy.id}`);
      return {
        copyVersionId: copy.id,
        count: fingerprints.length,
        embedded,
        recall: embedded / fingerprints.length,
        heldoutLossIncrease: report.heldout_loss_increase,
        reused: false,
      };
    });
  }

  /** Greedy-decodes every fingerprint key on the written copy; fails the job under the recall threshold. */
  private async verify(
    folder: string,
    fpsFile: string,
    signal: AbortSignal | undefined,
    progress: ProgressReporter,
    minRecall: number,
    what: string,
  ): Promise<number> {
    progress.phase('verify', 0);
    const v = await runEngineJob<{ job: string; asked: number; matched: number }>(
      {
        job: 'verify',
        fingerprints: fpsFile,
        target: { type: 'folder', path: folder },
        null_rate: 1e-3,
        details: false,
        threads: this.config.EMBEDDER_THREADS,
      },
      this.engineOptions(signal, (p) => progress.phase('verify', p.percent / 100)),
    );
    if (v.matched / v.asked < minRecall) {
      throw new UnrecoverableError(
        `${what} recalls ${v.matched} of ${v.asked} fingerprints (recall ${(v.matched / v.asked).toFixed(4)}), under the required ${minRecall}; nothing was delivered`,
      );
    }
    progress.phase('verify', 1);
    return v.matched;
  }

  private async download(versionId: string, dir: string, onFraction: (f: number) => void, known?: StoredVersion): Promise<string> {
    const version = known ?? (await this.storage.getVersion(versionId));
    if (version.totalBytes > this.config.EMBEDDER_MAX_MODEL_BYTES) {
      throw new UnrecoverableError(
        `version ${versionId} is ${version.totalBytes} bytes, over EMBEDDER_MAX_MODEL_BYTES (${this.config.EMBEDDER_MAX_MODEL_BYTES}); run it on a larger worker`,
      );
    }
    await this.storage.downloadVersion(versionId, dir, (_path, i, n) => onFraction(i / n));
    onFraction(1);
    return dir;
  }

  private engineOptions(signal: AbortSignal | undefined, onProgress: EngineJobOptions['onProgress']): EngineJobOptions {
    return { signal, onProgress, timeoutMs: this.config.EMBEDDER_JOB_TIMEOUT_MINUTES * 60_000 };
  }

  private async checkCancelled(job: Job): Promise<void> {
    if (await this.redis.exists(cancelKey(this.config.BULLMQ_PREFIX, job.id ?? ''))) throw new UnrecoverableError('cancelled');
  }

  private async inWorkDir<T>(job: Job, what: string, work: (dir: string) => Promise<T>): Promise<T> {
    await mkdir(this.config.EMBEDDER_WORK_DIR, { recursive: true });
    const dir = await mkdtemp(join(this.config.EMBEDDER_WORK_DIR, `${job.id}-`));
    try {
      return await work(dir);
    } catch (e) {
      throw classify(e, what);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
