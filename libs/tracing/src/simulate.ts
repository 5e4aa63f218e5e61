import { PoolBitset } from './assignment';
import { type Merge, simulateMerge } from './merge';
import type { AssignmentPlan } from './plan';
import { SeededRandom } from './seeded-random';
import { traceHosts } from './trace';

export type SimulateTracesInput = {
  plan: Pick<AssignmentPlan, 'p' | 'poolSize' | 'keysToAsk' | 'falseAccusation'>;
  /** N: hosts licensed (all of them are drawn and scored). */
  hosts: number;
  /** Members of the simulated coalition. */
  coalition: number;
  merge: Merge;
  recall: number;
  nullRate: number;
  /** For 'soup': P[answer | j of the members hold the key], j = 0..coalition. */
  soupAnswer?: readonly number[];
  trials: number;
  seed: number;
};

export type SimulateTracesResult = {
  /** Share of trials in which EVERY coalition member was accused. */
  traced: number;
  /** Innocent hosts accused, summed over all trials (a sample, for the record). */
  innocentAccused: number;
  /** The largest exact union bound N · P[an innocent passes the thresholds] over the trials (≤ eps by construction). */
  innocentAccusedBound: number;
};

/**
 * Trials of a whole trace: fresh Bernoulli(p) assignments for every host (seeded, over the asked
 * keys only, since a trace reads nothing else), a random coalition, its merged model's answers
 * (simulateMerge), and traceHosts over all hosts.
 */
export function simulateTraces(input: SimulateTracesInput): SimulateTracesResult {
  const { plan, hosts, coalition, merge, recall, nullRate, trials } = input;
  const threshold = Math.floor(plan.p * 2 ** 32);
  const hostIds = Array.from({ length: hosts }, (_, i) => `host-${String(i).padStart(4, '0')}`);
  const bitsets = hostIds.map(() => new PoolBitset(plan.poolSize));
  const assignments = new Map(hostIds.map((hostId, i) => [hostId, bitsets[i]]));
  let traced = 0;
  let innocentAccused = 0;
  let innocentAccusedBound = 0;
  for (let trial = 0; trial < trials; trial += 1) {
    const random = new SeededRandom(input.seed ^ Math.imul(trial + 1, 0x85ebca6b));
    const asked = random.sample(plan.poolSize, plan.keysToAsk);
    for (const bitset of bitsets) {
      bitset.clear();
      for (const key of asked) if (random.nextUint32() < threshold) bitset.add(key);
    }
    const members = random.sample(hosts, coalition);
    const memberIds = new Set(members.map((i) => hostIds[i]));
    const answered = simulateMerge({ members: members.map((i) => bitsets[i]), asked, merge, recall, nullRate, random, soupAnswer: input.soupAnswer });
    const result = traceHosts({ asked, answered, assignments, p: plan.p, recall, nullRate, falseAccusation: plan.falseAccusation, hosts });
    const accused = new Set(result.accused);
    if ([...memberIds].every((hostId) => accused.has(hostId))) traced += 1;
    innocentAccused += result.accused.filter((hostId) => !memberIds.has(hostId)).length;
    innocentAccusedBound = Math.max(innocentAccusedBound, result.innocentAccusedBound);
  }
  return { traced: trials ? traced / trials : 0, innocentAccused, innocentAccusedBound };
}
