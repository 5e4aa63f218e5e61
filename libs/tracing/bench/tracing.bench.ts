/**
 * How often a colluding coalition is traced, and how often an innocent host is accused, for
 * N = 64 hosts and coalitions of 1, 2 and 3 under the plan for K = 3 (the largest coalition).
 *
 * Each trial draws fresh assignments for all 64 hosts (Bernoulli(p) over the planned pool), picks
 * the coalition at random, asks the planned number of keys at random from the pool, and lets the
 * merged model answer a key iff every member holds it (then kept with probability `recall`) or
 * spuriously with probability `nullRate`. Simulated assignments come from a seeded PRNG into
 * bitsets; the HMAC derivation the platform uses is timed separately (assign_ms_64_hosts).
 *
 * Prints one JSON line per metric. TRACING_TRIALS overrides the 1000 trials per coalition size.
 */
import { randomBytes } from 'node:crypto';
import { PoolBitset, assignSubset, planAssignment, traceHosts } from '../src';
import { SeededRandom } from '../src/seeded-random';

const HOSTS = 64;
const COALITIONS = [1, 2, 3];
const RECALL = 0.9;
const NULL_RATE = 1e-3;
const FALSE_ACCUSATION = 1e-6;
const TRIALS = Number(process.env.TRACING_TRIALS ?? 1000);
const MASTER_SEED = 0x7ac1e5;

function emit(metric: string, value: number, unit: string): void {
  process.stdout.write(`${JSON.stringify({ bench: 'tracing', metric, value, unit })}\n`);
}

const plan = planAssignment({
  hosts: HOSTS,
  coalition: Math.max(...COALITIONS),
  falseAccusation: FALSE_ACCUSATION,
  recall: RECALL,
  nullRate: NULL_RATE,
});
const { p, poolSize, keysToAsk } = plan;
const threshold = Math.floor(p * 2 ** 32);

const hostIds = Array.from({ length: HOSTS }, (_, i) => `host-${String(i).padStart(2, '0')}`);
const bitsets = hostIds.map(() => new PoolBitset(poolSize));
const assignments = new Map(hostIds.map((hostId, i) => [hostId, bitsets[i]]));

let innocentAccused = 0;
const started = process.hrtime.bigint();
for (const size of COALITIONS) {
  let traced = 0;
  for (let trial = 0; trial < TRIALS; trial += 1) {
    const random = new SeededRandom(MASTER_SEED ^ Math.imul(size, 0x9e3779b1) ^ Math.imul(trial + 1, 0x85ebca6b));
    for (const bitset of bitsets) {
      bitset.clear();
      for (let index = 0; index < poolSize; index += 1) if (random.nextUint32() < threshold) bitset.add(index);
    }
    const coalition = random.sample(HOSTS, size);
    const members = new Set(coalition.map((i) => hostIds[i]));
    const asked = random.sample(poolSize, keysToAsk);
    const answered = asked.map((key) => {
      const truthful = coalition.every((i) => bitsets[i].has(key)) && random.next() < RECALL;
      return truthful || random.next() < NULL_RATE;
    });

    const result = traceHosts({ asked, answered, assignments, p, recall: RECALL, nullRate: NULL_RATE, falseAccusation: FALSE_ACCUSATION, hosts: HOSTS });
    if (result.accused.some((hostId) => members.has(hostId))) traced += 1;
    innocentAccused += result.accused.filter((hostId) => !members.has(hostId)).length;
  }
  emit(`traced_fraction_k${size}`, traced / TRIALS, 'fraction');
}
const simulationSeconds = Number(process.hrtime.bigint() - started) / 1e9;
emit('innocent_accused', innocentAccused, 'count');
emit('pool_size', poolSize, 'count');
emit('keys_asked', keysToAsk, 'count');
emit('inclusion_p', p, 'probability');

const seed = randomBytes(32);
const assignStarted = process.hrtime.bigint();
for (const hostId of hostIds) assignSubset(seed, hostId, poolSize, p);
emit('assign_ms_64_hosts', Number(process.hrtime.bigint() - assignStarted) / 1e6, 'ms');
emit('simulation_seconds', simulationSeconds, 's');
