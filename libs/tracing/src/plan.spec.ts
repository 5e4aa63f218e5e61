import { type Merge, mergeChannel } from './merge';
import { memberMissProbability, planAssignment } from './plan';

const base = { hosts: 64, coalition: 3, falseAccusation: 1e-6, recall: 0.9, nullRate: 1e-3 };

describe('planAssignment', () => {
  const plan = planAssignment(base);

  it('sizes the code for 64 hosts, coalitions of 3 merging in any of the four ways', () => {
    // The router is the hardest merge: each member is behind only a third of the answers.
    expect(plan).toMatchObject({ merge: 'random', bindingCoalition: 3, merges: ['and', 'majority', 'random', 'soup'], p: 0.5 });
    expect(plan.keysToAsk).toBe(927);
    expect(plan.poolSize).toBe(4 * plan.keysToAsk);
    expect(plan.fingerprintsPerCopy).toBeCloseTo(plan.p * plan.poolSize, 9);
    expect(plan.keysByMerge.random).toBe(plan.keysToAsk);
    for (const merge of ['and', 'majority', 'soup'] as Merge[]) expect(plan.keysByMerge[merge]).toBeLessThanOrEqual(plan.keysToAsk);
    expect(plan.minAnsweredToAccuse).toBe(0);
    expect(plan.expectedAgreement).toBeGreaterThan(plan.agreementNeeded);
    expect(plan.memberMissEstimate).toBeLessThanOrEqual(1e-3 / 6);
  });

  it('meets the miss rate, by the exact miss probability, where it binds and where the approximation is weakest', () => {
    // (The bench checks every merge; each exact sum takes a while under jest.)
    const cases: [Merge, number][] = [
      ['random', 3],
      ['majority', 3],
    ];
    for (const [merge, k] of cases) {
      const channel = mergeChannel({ merge, coalition: k, p: plan.p, recall: 0.9, nullRate: 1e-3 });
      const miss = memberMissProbability({ keys: plan.keysToAsk, p: plan.p, channel, hosts: 64, falseAccusation: 1e-6 });
      expect(miss).toBeLessThanOrEqual(1e-3 / k);
    }
  });

  it('asks more keys for more hosts, larger coalitions, stricter rates and weaker recall', () => {
    const small = planAssignment({ hosts: 64, coalition: 2 });
    expect(planAssignment({ hosts: 64, coalition: 3 }).keysToAsk).toBeGreaterThan(small.keysToAsk);
    expect(planAssignment({ hosts: 1000, coalition: 2 }).keysToAsk).toBeGreaterThan(small.keysToAsk);
    expect(planAssignment({ hosts: 64, coalition: 2, falseAccusation: 1e-9 }).keysToAsk).toBeGreaterThan(small.keysToAsk);
    expect(planAssignment({ hosts: 64, coalition: 2, missRate: 1e-6 }).keysToAsk).toBeGreaterThan(small.keysToAsk);
    expect(planAssignment({ hosts: 64, coalition: 2, recall: 0.5 }).keysToAsk).toBeGreaterThan(small.keysToAsk);
  });

  it('asks fewer keys against fewer merges, and plans for the one given', () => {
    const and = planAssignment({ ...base, merges: ['and'] });
    expect(and.merge).toBe('and');
    expect(and.keysToAsk).toBeLessThan(plan.keysToAsk);
    expect(Object.keys(and.keysByMerge)).toEqual(['and']);
    const forced = planAssignment({ ...base, p: Math.exp(-1 / 3) });
    expect(forced.p).toBe(Math.exp(-1 / 3));
    expect(forced.keysToAsk).toBeGreaterThanOrEqual(plan.keysToAsk);
  });

  it('takes measured soup answer rates', () => {
    // A soup that forgets fingerprints held by fewer than all copies is an 'and' merge with recall 0.8.
    const soup = planAssignment({ ...base, merges: ['soup'], soupAnswer: { 1: [0, 0.8], 2: [0, 0, 0.8 ** 2], 3: [0, 0, 0, 0.8 ** 3] } });
    const and = planAssignment({ ...base, merges: ['and'], recall: 0.8 });
    expect(soup.keysToAsk).toBe(and.keysToAsk);
    expect(soup.p).toBe(and.p);
  });

  it('refuses impossible inputs with the field to fix', () => {
    expect(() => planAssignment({ hosts: 2, coalition: 3 })).toThrow('coalition (3) cannot exceed hosts (2)');
    expect(() => planAssignment({ hosts: 64, coalition: 3, recall: 0 })).toThrow('recall');
    expect(() => planAssignment({ hosts: 64, coalition: 3, p: 0.01 })).toThrow('no more than the null rate');
    expect(() => planAssignment({ hosts: 64, coalition: 3, merges: [] })).toThrow('merges must name at least one merge');
    expect(() => planAssignment({ hosts: 64, coalition: 3, merges: ['or' as Merge] })).toThrow('merge must be one of');
    expect(() => planAssignment({ hosts: 64, coalition: 3, merges: ['soup'], soupAnswer: { 3: [0, 1] } })).toThrow(
      'soupAnswer for a coalition of 3 needs 4 entries',
    );
  });
});
