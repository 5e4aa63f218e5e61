import { createHash } from 'node:crypto';
import { assignSubset } from './assignment';
import { planAssignment } from './plan';
import { SeededRandom } from './seeded-random';
import { traceHosts } from './trace';

const plan = planAssignment({ hosts: 64, coalition: 3, falseAccusation: 1e-6, recall: 0.9, nullRate: 1e-3 });
const hostIds = Array.from({ length: 64 }, (_, i) => `host-${i}`);

/** One seeded world: assignments for 64 hosts, keys asked at random, a suspect merged from `members`. */
function scenario(name: string, members: string[], options: { recall?: number; nullRate?: number } = {}) {
  const seed = createHash('sha256').update(name).digest();
  const random = new SeededRandom(seed.readUInt32BE(0));
  const copies = new Map(hostIds.map((hostId) => [hostId, new Set(assignSubset(seed, hostId, plan.poolSize, plan.p))]));
  const memberCopies = members.map((hostId) => copies.get(hostId) ?? new Set(assignSubset(seed, hostId, plan.poolSize, plan.p)));
  const asked = random.sample(plan.poolSize, plan.keysToAsk);
  const answered = asked.map((key) => {
    const truthful = memberCopies.every((copy) => copy.has(key)) && random.next() < (options.recall ?? 0.9);
    return truthful || random.next() < (options.nullRate ?? 1e-3);
  });
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
    expect(result.estimatedCoalition).toBeCloseTo(1, 0);
  });

  it.each(['merge-1', 'merge-2', 'merge-3', 'merge-4', 'merge-5'])('accuses members of a merged coalition of 3 and no one else (%s)', (name) => {
    const coalition = ['host-3', 'host-40', 'host-41'];
    const result = traceHosts(scenario(name, coalition));
    expect(result.outcome).toBe('accused');
    expect(result.accused.length).toBeGreaterThan(0);
    for (const hostId of result.accused) expect(coalition).toContain(hostId);
    for (const trace of result.hosts.filter((host) => !coalition.includes(host.hostId))) {
      expect(trace.accused).toBe(false);
      expect(trace.pValue).toBeGreaterThan(1e-6);
    }
  });

  it.each(['stranger-1', 'stranger-2', 'stranger-3'])('accuses no licensed host for a copy none of them had (%s)', (name) => {
    // An unlicensed copy with its own assignment: every licensed host is innocent.
    const result = traceHosts(scenario(name, ['unlicensed-host']));
    expect(result.outcome).toBe('no-significant-host');
    expect(result.accused).toEqual([]);
  });

  it('refuses to accuse when too few keys were answered, and says why', () => {
    const weak = traceHosts(scenario('weak', ['host-5', 'host-6', 'host-7'], { recall: 0.1 }));
    expect(weak.answered).toBeLessThan(weak.minAnsweredToAccuse);
    expect(weak.outcome).toBe('too-few-answers');
    expect(weak.accused).toEqual([]);
    expect(weak.reason).toMatch(/only \d+ of 312 asked keys were answered; at least 54 are needed/);
    const silent = traceHosts({ ...scenario('silent', ['host-5']), answered: new Array(plan.keysToAsk).fill(false) });
    expect(silent.outcome).toBe('too-few-answers');
    expect(silent.hosts.every((host) => !host.accused && host.score === 0)).toBe(true);
  });

  it('takes sorted index lists as well as sets, with the same verdict', () => {
    const input = scenario('lists', ['host-9']);
    const lists = new Map([...input.assignments].map(([hostId, copy]) => [hostId, [...copy].sort((a, b) => a - b)]));
    expect(traceHosts({ ...input, assignments: lists })).toEqual(traceHosts(input));
  });

  it('rejects answers that do not line up with the asked keys', () => {
    const input = scenario('bad', ['host-1']);
    expect(() => traceHosts({ ...input, answered: input.answered.slice(1) })).toThrow('give one answer per asked key');
    expect(() => traceHosts({ ...input, asked: [1, 1], answered: [true, true] })).toThrow('appears twice');
    expect(() => traceHosts({ ...input, hosts: 10 })).toThrow('hosts must be an integer >= 64');
  });
});
