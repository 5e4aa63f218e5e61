/**
 * How often EVERY member of a colluding coalition is accused, and how likely an innocent host is to
 * be, for N = 64 hosts under the plan for K = 3 against all four merges (and, majority, random, soup).
 *
 * Each trial draws fresh assignments for all 64 hosts (Bernoulli(p) per fingerprint, from a seeded
 * PRNG into bitsets; only the asked keys are drawn, since a trace reads nothing else), picks the
 * coalition at random, asks the planned number of keys at random from the planned pool, and lets
 * the merged model answer as simulateMerge says (recall r per member, null rate p0). "Traced" means
 * every member of the coalition is accused. The HMAC derivation the platform uses is timed apart
 * (assign_ms_64_hosts).
 *
 * member_miss_exact_<merge>_k3 is the exact probability (memberMissProbability, no sampling) that
 * one given member of a coalition of 3 escapes, under the merge model; the plan wants ≤ δ/3.
 *
 * innocent_accused_bound is not sampled: it is the largest, over all trials, of the trace's exact
 * union bound N · P[an innocent passes the thresholds used] (≤ eps by construction).
 *
 * Prints one JSON line per metric. TRACING_TRIALS overrides the 1000 trials per (merge, k),
 * TRACING_RECALL the recall 0.9.
 */
import { randomBytes } from 'node:crypto';
import { MERGES, type Merge, assignSubset, memberMissProbability, mergeChannel, planAssignment, simulateTraces } from '../src';

const HOSTS = 64;
const COALITION = 3;
const RECALL = Number(process.env.TRACING_RECALL ?? 0.9);
const NULL_RATE = 1e-3;
const FALSE_ACCUSATION = 1e-6;
const TRIALS = Number(process.env.TRACING_TRIALS ?? 1000);
const MASTER_SEED = 0x7ac1e5;
const RUNS: [Merge, number][] = [
  ['and', 3],
  ['majority', 3],
  ['random', 3],
  ['soup', 3],
  ['and', 1],
  ['and', 2],
  ['random', 1],
  ['random', 2],
];

function emit(metric: string, value: number, unit: string): void {
  process.stdout.write(`${JSON.stringify({ bench: 'tracing', metric, value, unit })}\n`);
}

const planStarted = process.hrtime.bigint();
const plan = planAssignment({ hosts: HOSTS, coalition: COALITION, falseAccusation: FALSE_ACCUSATION, recall: RECALL, nullRate: NULL_RATE });
const planMs = Number(process.hrtime.bigint() - planStarted) / 1e6;
const { p, poolSize, keysToAsk } = plan;

let innocentAccused = 0;
let innocentBound = 0;
const started = process.hrtime.bigint();
RUNS.forEach(([merge, size], run) => {
  const sim = simulateTraces({
    plan,
    hosts: HOSTS,
    coalition: size,
    merge,
    recall: RECALL,
    nullRate: NULL_RATE,
    trials: TRIALS,
    seed: MASTER_SEED ^ Math.imul(run + 1, 0x9e3779b1),
  });
  emit(`traced_${merge}_k${size}`, sim.traced, 'fraction');
  innocentAccused += sim.innocentAccused;
  innocentBound = Math.max(innocentBound, sim.innocentAccusedBound);
});
const simulationSeconds = Number(process.hrtime.bigint() - started) / 1e9;
emit('innocent_accused_bound', innocentBound, 'probability');
emit('innocent_accused_sampled', innocentAccused, 'count');
emit('trials_per_run', TRIALS, 'count');
emit('recall', RECALL, 'probability');
emit('keys_per_audit_k3', keysToAsk, 'count');
emit('pool_size', poolSize, 'count');
emit('inclusion_p', p, 'probability');
for (const [merge, keys] of Object.entries(plan.keysByMerge)) emit(`plan_keys_${merge}_k3`, keys, 'count');
emit('plan_member_miss_estimate', plan.memberMissEstimate, 'probability');
for (const merge of MERGES) {
  const channel = mergeChannel({ merge, coalition: COALITION, p, recall: RECALL, nullRate: NULL_RATE });
  emit(`member_miss_exact_${merge}_k3`, memberMissProbability({ keys: keysToAsk, p, channel, hosts: HOSTS, falseAccusation: FALSE_ACCUSATION }), 'probability');
}
emit('plan_ms', planMs, 'ms');

const seed = randomBytes(32);
const assignStarted = process.hrtime.bigint();
for (let h = 0; h < HOSTS; h += 1) assignSubset(seed, `host-${h}`, poolSize, p);
emit('assign_ms_64_hosts', Number(process.hrtime.bigint() - assignStarted) / 1e6, 'ms');
emit('simulation_seconds', simulationSeconds, 's');
