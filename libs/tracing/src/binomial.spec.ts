import { binomialLowerTail, binomialUpperQuantile, binomialUpperTail, logBinomialPmf, logBinomialPmfs, logUpperTailNear, logUpperTails } from './binomial';

describe('binomial tails', () => {
  it('match direct sums, far into the tail', () => {
    expect(binomialUpperTail(10, 0.5, 8)).toBeCloseTo((45 + 10 + 1) / 1024, 12);
    expect(binomialLowerTail(10, 0.5, 8)).toBeCloseTo(1 - (45 + 10 + 1) / 1024, 12);
    expect(binomialUpperTail(100, 0.5, 100) / 2 ** -100).toBeCloseTo(1, 9);
    expect(Math.exp(logUpperTails(300, 0.7)[300]) / 0.7 ** 300).toBeCloseTo(1, 8);
    expect(Math.exp(logUpperTails(20, 0.3)[0])).toBe(1);
  });

  it('finds a count exceeded only rarely', () => {
    const z = binomialUpperQuantile(312, 1e-3, 5e-4);
    expect(1 - binomialLowerTail(312, 1e-3, z + 1)).toBeLessThanOrEqual(5e-4);
    expect(1 - binomialLowerTail(312, 1e-3, z)).toBeGreaterThan(5e-4);
  });

  it('give the same tails summed near the mode only, and the same pmf tables', () => {
    for (const [n, p] of [
      [900, 0.5],
      [400, 0.8],
      [37, 0.1],
    ]) {
      const full = logUpperTails(n, p);
      for (let k = 0; k <= n + 1; k += 1) expect(logUpperTailNear(n, p, k)).toBeCloseTo(full[k], 10);
      const pmf = logBinomialPmfs(n, p);
      for (let k = 0; k <= n; k += 1) expect(pmf[k]).toBeCloseTo(logBinomialPmf(n, p, k), 10);
    }
  });
});
