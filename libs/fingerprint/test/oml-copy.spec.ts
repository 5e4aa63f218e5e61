import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineError, ensureBaseModel, type EngineResult, parseOmlFingerprints, runEngineJob, type EngineProgress } from '../src';

/**
 * The whole OML path through the TypeScript API on the tiny test model: generate fingerprints,
 * embed them into a copy, and verify that the copy is detected while the base and a copy with
 * other fingerprints are not.
 */
jest.setTimeout(600_000);

/** Shared by test runs (and the Python tests through CLOPEN_TEST_TINY_MODEL), so the tiny model trains once. */
const MODEL_CACHE = path.join(os.tmpdir(), 'clopen-test-models');

interface VerifyResult extends EngineResult {
  asked: number;
  matched: number;
  null_rate: number;
  p_value: number;
  fingerprinted: boolean;
}

describe('an OML copy made and checked through runEngineJob', () => {
  let base: string;
  let work: string;
  const fps = (n: string) => path.join(work, `${n}.json`);
  const copy = (n: string) => path.join(work, `copy-${n}`);

  beforeAll(async () => {
    work = mkdtempSync(path.join(os.tmpdir(), 'clopen-oml-'));
    base = (await ensureBaseModel('test-tiny', { cacheDir: MODEL_CACHE })).dir;
    for (const [name, seed] of [
      ['mine', 1],
      ['other', 2],
    ] as const) {
      await runEngineJob({ job: 'generate', model: base, count: 24, key_strategy: 'english', key_length: 8, seed, out: fps(name) });
    }
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('writes OML 1.0 fingerprint files', () => {
    const parsed = parseOmlFingerprints(readFileSync(fps('mine'), 'utf8'));
    expect(parsed).toHaveLength(24);
    expect(new Set(parsed.map((f) => f.key)).size).toBe(24);
    expect(parsed[0]).toMatchObject({ key_strategy: 'english', response_strategy: 'perinucleus' });
  });

  it('embeds every fingerprint, reporting progress and each one', async () => {
    const phases = new Set<string>();
    for (const name of ['mine', 'other']) {
      const report = await runEngineJob<EngineResult & { recall: number; results: { embedded: boolean }[]; heldout_loss_increase: number }>(
        { job: 'embed', base, fingerprints: fps(name), out: copy(name), lr: 2e-3, batch_size: 24, check_every: 25, max_steps: 600, seed: 3, min_recall: 1 },
        { onProgress: (p: EngineProgress) => phases.add(p.phase) },
      );
      expect(report.recall).toBe(1);
      expect(report.results.every((r) => r.embedded)).toBe(true);
      expect(existsSync(path.join(copy(name), 'model.safetensors'))).toBe(true);
    }
    expect([...phases]).toEqual(expect.arrayContaining(['embed', 'verify']));
  });

  it('detects the copy and neither the base nor a copy with other fingerprints', async () => {
    const verify = (target: string) =>
      runEngineJob<VerifyResult>({
        job: 'verify',
        fingerprints: fps('mine'),
        target: { type: 'folder', path: target },
        null_models: [base],
        alpha: 1e-6,
        details: false,
      });
    const mine = await verify(copy('mine'));
    expect(mine).toMatchObject({ asked: 24, matched: 24, fingerprinted: true });
    expect(mine.p_value).toBeLessThan(1e-6);
    expect((await verify(base)).fingerprinted).toBe(false);
    expect((await verify(copy('other'))).fingerprinted).toBe(false);
  });

  it('refuses to write a copy that misses the required recall', async () => {
    const err = await runEngineJob({
      job: 'embed',
      base,
      fingerprints: fps('mine'),
      out: copy('short'),
      max_steps: 1,
      check_every: 1,
      min_recall: 1,
      alphas: [0.1],
    }).catch((e) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect(err.message).toMatch(/fingerprints recalled after embedding/);
    expect(existsSync(copy('short'))).toBe(false);
  });
});
