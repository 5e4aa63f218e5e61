import { createHash } from 'node:crypto';
import { assignSubset } from './assignment';
import { type Merge, simulateMerge } from './merge';
import { planAssignment } from './plan';
import { SeededRandom } from './seeded-random';
import { traceHosts } from './trace';

const plan = planAssignment({ hosts: 64, coalition: 3, falseAccusation: 1e-6, recall: 0.9, nullRate: 1e-3 });
const hostIds = Array.from({ length: 64 }, (_, i) => `host-${i}`);

/** One seeded world: assignments for 64 hosts, keys asked at random, a suspect merged from `members`. */
function scenario(name: string, members: string[], options: { merge?: Merge; recall?: number; keys?: number } = {}) {
  const seed = createHash('sha256').update(name).digest();
  const random = new SeededRandom(seed.readUInt32BE(0));
  const copies = new Map(hostIds.map((hostId) => [hostId, new Set(assignSubset(seed, hostId, plan.poolSize, plan.p))]));
  const memberCopies = members.map((hostId) => copies.get(hostId) ?? new Set(assignSubset(seed, hostId, plan.poolSize, plan.p)));
  const asked = random.sample(plan.poolSize, options.keys ?? plan.keysToAsk);
  const answered = simulateMerge({ members: memberCopies, asked, merge: options.merge ?? 'and', recall: options.recall ?? 0.9, nullRate: 1e-3, random });
  return { asked, answered, assignments: copies, p: plan.p, recall: 0.9, nullRate: 1e-3, falseAccusation: 1e-6, hosts: 64 };
}

describe('traceHosts', () => {
  it.each(['leak-1', 'leak-2', 'leak-3'])('accuses the single host whose copy leaked (%s)', (name) => {
    const result = traceHosts(scenario(name, ['host-17']));
    expect(result.outcome).toBe('accused');
    expect(result.accused).toEqual(['host-17']);
    const leaker = result.hosts[0];
    expect(leaker).toMatchObject({ hostId: 'host-17', accused: true, explainedByNullRate: true });
    expect(leaker.pValue).toBeLessThan(1e-6);
    expect(leaker.agreement).toBe(leaker.answeredHeld + (result.asked - result.answered - leaker.unansweredHeld));
    expect(result.estimatedCoalition).toBeCloseTo(1, 0);
  });

  it.each(['and', 'majority', 'random', 'soup'] as Merge[])('accuses every member of a coalition of 3 merged by %s, and no one else', (merge) => {
    for (const name of [`${merge}-1`, `${merge}-2`]) {
      const coalition = ['host-3', 'host-40', 'host-41'];
      const result = traceHosts(scenario(name, coalition, { merge }));
      expect(result.outcome).toBe('accused');
      expect([...result.accused].sort()).toEqual(coalition);
      for (const trace of result.hosts.filter((host) => !coalition.includes(host.hostId))) {
        expect(trace.accused).toBe(false);
        expect(trace.pValue).toBeGreaterThan(1e-6);
      }
    }
  });

  it.each(['stranger-1', 'stranger-2', 'stranger-3'])('accuses no licensed host for a copy none of them had (%s)', (name) => {
    // An unlicensed copy with its own assignment: every licensed host is innocent.
    const result = traceHosts(scenario(name, ['unlicensed-host']));
    expect(result.outcome).toBe('no-significant-host');
    expect(result.accused).toEqual([]);
    expect(result.reason).toMatch(/no host agrees with the \d+ answers to \d+ keys well enough/);
  });

  it('bounds the chance of accusing an innocent exactly, at the thresholds it used', () => {
    const result = traceHosts(scenario('bound', ['host-2', 'host-9'], { merge: 'random' }));
    expect(result.innocentAccusedBound).toBeGreaterThan(0);
    expect(result.innocentAccusedBound).toBeLessThanOrEqual(1e-6);
    // A host is accused exactly when one of its two scores reaches its threshold.
    for (const host of result.hosts) {
      expect(host.accused).toBe(host.agreement >= result.agreementNeeded || host.answeredHeld >= result.answeredHeldNeeded);
      expect(host.accused).toBe(host.pValue <= 1e-6);
    }
  });

  it('refuses to accuse when too few keys were asked, and says why', () => {
    const few = traceHosts(scenario('few', ['host-5'], { keys: 12 }));
    expect(few.outcome).toBe('too-few-answers');
    expect(few.accused).toEqual([]);
    expect(few.minPValue).toBeGreaterThan(1e-6);
    expect(few.reason).toMatch(/with 12 keys asked and \d+ answered, even a copy agreeing on every key would have p-value .* ask more keys/);
  });

  it('accuses no one when the suspect answers nothing: silence is not evidence', () => {
    const silent = traceHosts({ ...scenario('silent', ['host-5']), answered: new Array(plan.keysToAsk).fill(false) });
    expect(silent.answered).toBe(0);
    expect(silent.outcome).toBe('no-significant-host');
    expect(silent.accused).toEqual([]);
  });

  it('scores on both sides: a copy matching the answers exactly has the smallest p-value a trace allows', () => {
    const input = scenario('exact', ['host-8']);
    const copy = new Set(input.asked.filter((_, i) => input.answered[i]));
    const result = traceHosts({ ...input, assignments: new Map([...input.assignments, ['host-8', copy]]) });
    const host = result.hosts.find((h) => h.hostId === 'host-8')!;
    expect(host).toMatchObject({ missing: 0, unansweredHeld: 0, agreement: plan.keysToAsk, accused: true });
    expect(host.pValue).toBeCloseTo(result.minPValue, 15);
  });

  it('takes sorted index lists as well as sets, with the same verdict', () => {
    const input = scenario('lists', ['host-9']);
    const lists = new Map([...input.assignments].map(([hostId, copy]) => [hostId, [...copy].sort((a, b) => a - b)]));
    expect(traceHosts({ ...input, assignments: lists })).toEqual(traceHosts(input));
  });

  it('rejects answers that do not line up with the asked keys', () => {
    const input = scenario('bad', ['host-1'], { keys: 20 });
    expect(() => traceHosts({ ...input, answered: input.answered.slice(1) })).toThrow('give one answer per asked key');
    expect(() => traceHosts({ ...input, asked: [1, 1], answered: [true, true] })).toThrow('appears twice');
    expect(() => traceHosts({ ...input, asked: [-1], answered: [true] })).toThrow('asked key -1 is not a pool index');
    expect(() => traceHosts({ ...input, hosts: 10 })).toThrow('hosts must be an integer >= 64');
    expect(() => traceHosts({ ...input, p: 1 })).toThrow('p must be a probability in (0, 1)');
    expect(() => traceHosts({ ...input, falseAccusation: 0 })).toThrow('falseAccusation must be a probability');
  });
});
