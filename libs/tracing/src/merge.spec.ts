import { PoolBitset } from './assignment';
import { MERGES, type Merge, type MergeChannel, majoritySoupAnswer, mergeChannel, simulateMerge } from './merge';
import { SeededRandom } from './seeded-random';

const base = { p: 0.6, recall: 0.9, nullRate: 1e-3 };

/** Frequencies of (answered ∧ member 0 holds), (unanswered ∧ member 0 holds), answered, over many keys. */
function simulate(merge: Merge, k: number, keys: number, soupAnswer?: number[]) {
  const random = new SeededRandom(0xc0ffee + k);
  const members = Array.from({ length: k }, () => new PoolBitset(keys));
  const threshold = Math.floor(base.p * 2 ** 32);
  for (const member of members) for (let i = 0; i < keys; i += 1) if (random.nextUint32() < threshold) member.add(i);
  const asked = Array.from({ length: keys }, (_, i) => i);
  const answered = simulateMerge({ members, asked, merge, recall: base.recall, nullRate: base.nullRate, random, soupAnswer });
  let plus = 0;
  let minus = 0;
  answered.forEach((yes, i) => {
    if (members[0].has(i) && yes) plus += 1;
    if (members[0].has(i) && !yes) minus += 1;
  });
  return { answered: answered.filter(Boolean).length / keys, answeredHeld: plus / keys, unansweredHeld: minus / keys };
}

function expectSameChannel(actual: MergeChannel, expected: MergeChannel) {
  for (const field of ['answered', 'answeredHeld', 'unansweredHeld', 'genuine'] as const) expect(actual[field]).toBeCloseTo(expected[field], 12);
}

describe('merge models', () => {
  it.each([
    ['and', 3],
    ['majority', 3],
    ['random', 3],
    ['soup', 3],
    ['majority', 4],
    ['random', 2],
  ] as [Merge, number][])('the simulator draws what mergeChannel says (%s, k = %i)', (merge, k) => {
    const channel = mergeChannel({ merge, coalition: k, ...base });
    const seen = simulate(merge, k, 40_000);
    // 40 000 keys: a frequency's standard error is below 0.0025.
    expect(Math.abs(seen.answered - channel.answered)).toBeLessThan(0.01);
    expect(Math.abs(seen.answeredHeld - channel.answeredHeld)).toBeLessThan(0.01);
    expect(Math.abs(seen.unansweredHeld - channel.unansweredHeld)).toBeLessThan(0.01);
  });

  it('follows the definitions', () => {
    const w = base.recall * base.p;
    const and = mergeChannel({ merge: 'and', coalition: 3, ...base });
    expect(and.genuine).toBeCloseTo(w ** 3, 12);
    expect(and.answeredHeld + and.unansweredHeld).toBeCloseTo(base.p, 12);
    // Majority of 2 is both: the 'and' merge.
    expectSameChannel(mergeChannel({ merge: 'majority', coalition: 2, ...base }), mergeChannel({ merge: 'and', coalition: 2, ...base }));
    // A coalition of one is its own copy, however it "merges".
    const alone = mergeChannel({ merge: 'and', coalition: 1, ...base });
    for (const merge of MERGES) expectSameChannel(mergeChannel({ merge, coalition: 1, ...base }), alone);
    // A router answers at the rate of one copy; a member holds the answered keys more often than chance.
    const random = mergeChannel({ merge: 'random', coalition: 3, ...base });
    expect(random.genuine).toBeCloseTo(w, 12);
    expect(random.answeredHeld / random.answered).toBeGreaterThan(base.p);
    // The default soup is the majority vote; measured rates replace it.
    expectSameChannel(mergeChannel({ merge: 'soup', coalition: 3, ...base }), mergeChannel({ merge: 'majority', coalition: 3, ...base }));
    expect(majoritySoupAnswer(3, 1)).toEqual([0, 0, 1, 1]);
    const measured = mergeChannel({ merge: 'soup', coalition: 3, ...base, soupAnswer: [0, 0.1, 0.5, 0.95] });
    const p = base.p;
    expect(measured.genuine).toBeCloseTo(3 * p * (1 - p) ** 2 * 0.1 + 3 * p * p * (1 - p) * 0.5 + p ** 3 * 0.95, 12);
  });

  it('refuses malformed merges with the field to fix', () => {
    expect(() => mergeChannel({ merge: 'or' as Merge, coalition: 3, ...base })).toThrow('merge must be one of and, majority, random, soup, got or');
    expect(() => mergeChannel({ merge: 'soup', coalition: 3, ...base, soupAnswer: [0, 1] })).toThrow('soupAnswer for a coalition of 3 needs 4 entries');
    expect(() => mergeChannel({ merge: 'soup', coalition: 2, ...base, soupAnswer: [0, 1.5, 1] })).toThrow('soupAnswer[1] must be a probability');
    expect(() => mergeChannel({ merge: 'and', coalition: 0, ...base })).toThrow('coalition must be an integer >= 1');
    const random = new SeededRandom(1);
    expect(() => simulateMerge({ members: [], asked: [1], merge: 'and', recall: 0.9, nullRate: 0, random })).toThrow('members must be an integer >= 1');
  });
});
