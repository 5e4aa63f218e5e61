import { runFingerprintBench } from '../src/cli/bench-fingerprint';

/**
 * `npm run bench:fingerprint -- --quick` on test-tiny: the whole machinery (control, independent
 * null bases, leave-one-out verdicts, unseen wrappers, erasure search, int8/int4, LoRA, a real
 * coalition traced with libs/tracing) runs and reports every metric the goals name. The numbers
 * of a tiny model are not the goals' numbers; only what must hold whatever the model is asserted.
 */
jest.setTimeout(1_800_000);

describe('bench:fingerprint --quick', () => {
  it('reports every metric, calibrated on at least 200 verdicts', async () => {
    const lines = await runFingerprintBench({ quick: true });
    const metrics = Object.fromEntries(lines.map((line) => [line.metric, line.value]));
    for (const name of [
      'erase_tokens_ratio',
      'erase_tokens_ratio_lr1e-3',
      'utility_cost',
      'wrapper_retention_heldout',
      'null_rate_independent',
      'false_verdicts',
      'verdicts',
      'int8_detected',
      'int4_detected',
      'traced_and_k3',
      'traced_majority_k3',
      'traced_random_k3',
      'traced_soup_k3',
      'innocent_accused_bound',
      'keys_per_audit_k3',
      'recall',
      'embed_minutes_64',
      'attack_utility_gap',
      'base_finetune_gain',
    ]) {
      expect(metrics).toHaveProperty([name]);
    }
    expect(metrics.verdicts).toBeGreaterThanOrEqual(200);
    expect(metrics.null_models).toBeGreaterThanOrEqual(4);
    expect(metrics.recall).toBe(1);
    expect(metrics.detected_clean).toBe(1);
    expect(metrics.erase_tokens_ratio).toBeGreaterThan(0);
    expect(metrics.erase_tokens_ratio).toBeLessThanOrEqual(1);
    expect(metrics.wrappers_heldout).toBeGreaterThanOrEqual(8);
    expect(metrics.innocent_accused_bound).toBeLessThanOrEqual(1e-6);
    for (const line of lines) expect(line).toEqual({ bench: 'fingerprint', metric: expect.any(String), value: expect.any(Number), unit: expect.any(String) });
  });
});
