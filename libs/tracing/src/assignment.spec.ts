import { MIN_SEED_BYTES, PoolBitset, assignSubset } from './assignment';
import { TracingInputError } from './errors';

const seed = Buffer.alloc(32, 7);

describe('assignSubset', () => {
  it('gives the same host the same sorted subset from the same seed', () => {
    const first = assignSubset(seed, 'host-a', 1000, 0.4);
    const again = assignSubset(Buffer.from(seed), 'host-a', 1000, 0.4);
    expect(Array.from(again)).toEqual(Array.from(first));
    for (let i = 1; i < first.length; i += 1) expect(first[i]).toBeGreaterThan(first[i - 1]);
    expect(first[first.length - 1]).toBeLessThan(1000);
  });

  it('includes each fingerprint with probability p', () => {
    const poolSize = 20_000;
    for (const p of [0.1, 0.3663, 0.7165]) {
      const count = assignSubset(seed, 'host-rate', poolSize, p).length;
      const sd = Math.sqrt(poolSize * p * (1 - p));
      expect(Math.abs(count - poolSize * p)).toBeLessThan(4 * sd);
    }
    expect(assignSubset(seed, 'host-rate', 100, 0)).toHaveLength(0);
    expect(assignSubset(seed, 'host-rate', 100, 1)).toHaveLength(100);
  });

  it('draws hosts independently: different hosts and different seeds get different subsets', () => {
    const poolSize = 4000;
    const p = 0.5;
    const a = new Set(assignSubset(seed, 'host-a', poolSize, p));
    const b = assignSubset(seed, 'host-b', poolSize, p);
    const shared = b.filter((index) => a.has(index)).length;
    // Independent Bernoulli(p) draws overlap on about p² of the pool.
    expect(Math.abs(shared - poolSize * p * p)).toBeLessThan(4 * Math.sqrt(poolSize * p * p * (1 - p * p)));
    const otherSeed = assignSubset(Buffer.alloc(32, 8), 'host-a', poolSize, p);
    expect(Array.from(otherSeed)).not.toEqual(Array.from(a));
  });

  it('refuses a guessable seed and a bad p', () => {
    expect(() => assignSubset(Buffer.alloc(MIN_SEED_BYTES - 1), 'h', 10, 0.5)).toThrow(TracingInputError);
    expect(() => assignSubset(seed, 'h', 10, 1.5)).toThrow('p must be a probability');
    expect(() => assignSubset(seed, '', 10, 0.5)).toThrow('hostId');
  });
});

describe('PoolBitset', () => {
  it('answers membership for the indices it was built from', () => {
    const bitset = PoolBitset.fromIndices(20, [0, 3, 19]);
    expect([0, 1, 3, 19, 20, -1].map((i) => bitset.has(i))).toEqual([true, false, true, true, false, false]);
    expect(() => bitset.add(20)).toThrow('outside the pool');
    bitset.clear();
    expect(bitset.has(3)).toBe(false);
  });
});
