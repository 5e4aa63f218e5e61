import { logBinomialPmf } from './binomial';
import { InnocentTails, fewestAnsweredToAccuse } from './innocent';

/** Every holding an innocent host can have on n keys (the first m answered), with its probability. */
function enumerate(n: number, m: number, p: number) {
  const outcomes: { a: number; d: number; probability: number }[] = [];
  for (let mask = 0; mask < 1 << n; mask += 1) {
    let a = 0;
    let b = 0;
    let probability = 1;
    for (let key = 0; key < n; key += 1) {
      const held = (mask >> key) & 1;
      probability *= held ? p : 1 - p;
      if (held && key < m) a += 1;
      if (held && key >= m) b += 1;
    }
    outcomes.push({ a, d: a + (n - m - b), probability });
  }
  return outcomes;
}

const sum = (values: number[]) => values.reduce((x, y) => x + y, 0);

describe('InnocentTails', () => {
  it.each([
    [10, 4, 0.3],
    [10, 4, 0.7],
    [11, 0, 0.55],
    [11, 11, 0.45],
    [12, 7, 0.5],
  ])('match brute-force enumeration exactly (n = %i, m = %i, p = %f)', (n, m, p) => {
    const outcomes = enumerate(n, m, p);
    const tails = new InnocentTails(n, m, p);
    for (let d = 0; d <= n + 1; d += 1) {
      const expected = sum(outcomes.filter((o) => o.d >= d).map((o) => o.probability));
      expect(Math.exp(tails.logAgreementTail(d))).toBeCloseTo(expected, 12);
      if (expected > 0) expect(Math.exp(tails.logAgreementTail(d)) / expected).toBeCloseTo(1, 11);
    }
    for (let s = 0; s <= m + 1; s += 1) {
      expect(Math.exp(tails.logAnsweredHeldTail(s))).toBeCloseTo(sum(outcomes.filter((o) => o.a >= s).map((o) => o.probability)), 12);
      for (const d of [0, Math.floor(n / 2), n - 1, n]) {
        const either = sum(outcomes.filter((o) => o.a >= s || o.d >= d).map((o) => o.probability));
        expect(Math.exp(tails.logEitherTail(s, d))).toBeCloseTo(either, 12);
      }
    }
    expect(Math.exp(tails.logBestAgreement())).toBeCloseTo(sum(outcomes.filter((o) => o.d === n).map((o) => o.probability)), 14);
  });

  it('keeps its relative precision far into the tail, where accusations are decided', () => {
    const tails = new InnocentTails(900, 400, 0.5);
    // Only the exact match reaches d = n: p^m (1 − p)^(n − m) = 2^-900.
    expect(tails.logAgreementTail(900)).toBeCloseTo(-900 * Math.LN2, 9);
    // d = n − 1: one key off, n ways.
    expect(tails.logAgreementTail(899)).toBeCloseTo(Math.log(901) - 900 * Math.LN2, 9);
    // Against the full convolution at every d.
    const small = new InnocentTails(300, 120, 0.65);
    const held = Array.from({ length: 121 }, (_, a) => logBinomialPmf(120, 0.65, a));
    const lacked = Array.from({ length: 181 }, (_, c) => logBinomialPmf(180, 0.35, c));
    for (let d = 0; d <= 300; d += 7) {
      const terms: number[] = [];
      for (let a = 0; a <= 120; a += 1) for (let c = Math.max(0, d - a); c <= 180; c += 1) terms.push(held[a] + lacked[c]);
      const max = Math.max(...terms);
      const full = max + Math.log(sum(terms.map((t) => Math.exp(t - max))));
      expect(small.logAgreementTail(d)).toBeCloseTo(Math.min(0, full), 9);
    }
  });

  it('finds the least thresholds below a level, with or without a hint', () => {
    const tails = new InnocentTails(500, 200, 0.5);
    const level = Math.log(1e-6 / 128);
    const d = tails.agreementThreshold(level);
    expect(tails.logAgreementTail(d)).toBeLessThanOrEqual(level);
    expect(tails.logAgreementTail(d - 1)).toBeGreaterThan(level);
    for (const hint of [0, 1, 250, d - 3, d, d + 40, 499]) expect(tails.agreementThreshold(level, hint)).toBe(d);
    const s = tails.answeredHeldThreshold(level);
    expect(tails.logAnsweredHeldTail(s)).toBeLessThanOrEqual(level);
    expect(tails.logAnsweredHeldTail(s - 1)).toBeGreaterThan(level);
    // Nothing reaches a level below the best possible tail.
    expect(new InnocentTails(10, 5, 0.5).agreementThreshold(Math.log(1e-9))).toBe(11);
  });

  it('says how few answers can still accuse', () => {
    const level = Math.log(1e-6 / 128);
    // p > 1/2: a copy lacking every unanswered key is the strongest evidence, so 0 answers can do.
    expect(fewestAnsweredToAccuse(900, 0.6, level)).toBe(0);
    // p < 1/2: the least m with p^m (1 − p)^(n − m) ≤ level.
    const m = fewestAnsweredToAccuse(40, 0.3, level);
    const best = (k: number) => k * Math.log(0.3) + (40 - k) * Math.log(0.7);
    expect(best(m)).toBeLessThanOrEqual(level);
    expect(best(m - 1)).toBeGreaterThan(level);
    expect(fewestAnsweredToAccuse(10, 0.6, level)).toBe(11);
  });
});
