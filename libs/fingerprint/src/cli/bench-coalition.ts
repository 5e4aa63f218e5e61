/**
 * The coalition part of bench:fingerprint, on the TypeScript side where libs/tracing lives: the
 * engine merged three real copies four ways and reports which of the asked keys each merge
 * answered; here they are traced among 64 hosts (the three members and 61 innocent hosts whose
 * subsets are drawn like any host's), and libs/tracing's simulator runs the same merges for the
 * platform's plan with the soup behaviour measured on the real copies.
 */
import { MERGES, PoolBitset, SeededRandom, planAssignment, simulateTraces, traceHosts, type Merge } from '@clopen/tracing';

/** What the engine's bench returns about the coalition of real copies. */
export type CoalitionRun = {
  keys: number;
  p: number;
  /** Per member, the indices (0..keys-1) of the asked keys its copy holds. */
  held: number[][];
  /** Per merge, whether the merged model answered each asked key. */
  answered: Record<Merge, boolean[]>;
  /** P[the averaged model answers | exactly j of the members hold the key], j = 0..k. */
  soup_answer_by_holders: Array<number | null>;
};

export const BENCH_HOSTS = 64;
export const BENCH_COALITION = 3;

export function traceCoalition(run: CoalitionRun, recall: number, nullRate: number, log: (line: string) => void): Record<string, number> {
  const out: Record<string, number> = {};
  const random = new SeededRandom(0xc0a1);
  const threshold = Math.floor(run.p * 2 ** 32);
  const assignments = new Map<string, PoolBitset>();
  run.held.forEach((indices, j) => {
    const set = new PoolBitset(run.keys);
    for (const i of indices) set.add(i);
    assignments.set(`member-${j}`, set);
  });
  for (let h = run.held.length; h < BENCH_HOSTS; h += 1) {
    const set = new PoolBitset(run.keys);
    for (let i = 0; i < run.keys; i += 1) if (random.nextUint32() < threshold) set.add(i);
    assignments.set(`innocent-${h}`, set);
  }
  const asked = Array.from({ length: run.keys }, (_, i) => i);
  for (const merge of MERGES) {
    const answered = run.answered[merge];
    const result = traceHosts({ asked, answered, assignments, p: run.p, hosts: BENCH_HOSTS, nullRate });
    const members = run.held.map((_, j) => `member-${j}`);
    out[`traced_${merge}_k3_real`] = members.every((m) => result.accused.includes(m)) ? 1 : 0;
    out[`members_accused_${merge}_k3_real`] = members.filter((m) => result.accused.includes(m)).length;
    out[`innocents_accused_${merge}_k3_real`] = result.accused.filter((h) => h.startsWith('innocent-')).length;
    log(`real coalition, ${merge} merge: ${answered.filter(Boolean).length}/${run.keys} answered, accused ${result.accused.join(', ') || 'nobody'}`);
  }

  // The platform's plan for N = 64, K = 3 and its simulator, with the soup measured above (null
  // answers excluded: the simulator adds the null rate on top).
  const k = run.held.length;
  const soupAnswer = run.soup_answer_by_holders.map((v, j) => (j === 0 ? 0 : (v ?? (j * 2 > k ? recall : 0))));
  // The same p as the real copies were drawn with; the keys per audit re-planned for what was measured.
  const plan = planAssignment({ hosts: BENCH_HOSTS, coalition: BENCH_COALITION, nullRate, recall, p: run.p, soupAnswer: { [k]: soupAnswer } });
  const trials = Number(process.env.BENCH_FP_TRIALS ?? 1000);
  let bound = 0;
  let sampled = 0;
  MERGES.forEach((merge, i) => {
    const sim = simulateTraces({
      plan,
      hosts: BENCH_HOSTS,
      coalition: BENCH_COALITION,
      merge,
      recall,
      nullRate,
      soupAnswer,
      trials,
      seed: 0x5eed ^ Math.imul(i + 1, 0x9e3779b1),
    });
    out[`traced_${merge}_k3`] = sim.traced;
    bound = Math.max(bound, sim.innocentAccusedBound);
    sampled += sim.innocentAccused;
  });
  out.innocent_accused_bound = bound;
  out.innocent_accused_sampled = sampled;
  out.keys_per_audit_k3 = plan.keysToAsk;
  out.inclusion_p = plan.p;
  out.tracing_recall = recall;
  soupAnswer.forEach((v, j) => (out[`soup_answer_held_by_${j}`] = v));
  return out;
}
