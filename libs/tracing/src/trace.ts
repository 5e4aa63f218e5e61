import { HostAssignment, toMembership } from './assignment';
import { binomialUpperQuantile, logUpperTails } from './binomial';
import { TracingInputError, requireCount, requireProbability } from './errors';

/**
 * Who is behind a suspect model: the prover asked it n pool keys and saw which it answered with
 * the secret response. Every host is scored by how many answered keys its copy holds.
 *
 * The decision rests on one fact that needs no model of the attack: an innocent host's subset
 * was drawn independently of the suspect's (see assignSubset), so among m answered keys it holds
 * Bin(m, p) of them, whatever the coalition did. Host h, holding a of the m, is accused iff
 *   pValue = N · P[Bin(m, p) ≥ a] ≤ eps
 * and the union bound over the N hosts makes eps the probability that ANY innocent is accused.
 *
 * Recall and null rate only move the colluders' side: imperfect recall removes answers (fewer m,
 * never a key a colluder lacks), while the null rate adds a few spurious answers a colluder may not
 * hold. Those cost a colluder a few "missing" keys, and the exact tail absorbs them: holding
 * m − 2 of m answered keys is still far beyond Bin(m, p) when m is large. `nullAnswersBound`
 * (a (1 − δ) quantile of Bin(n, p0)) says how many misses the null rate explains; a host within
 * it is marked `explainedByNullRate`, i.e. its copy, alone or merged with others, accounts for
 * every other answer.
 *
 * With fewer than ceil(ln(N/eps) / ln(1/p)) answered keys even a host holding all of them cannot
 * reach eps, so the trace refuses to accuse and says so.
 */

export type TraceHostsInput = {
  /** Pool indices of the keys asked, distinct, chosen independently of the assignments. */
  asked: readonly number[];
  /** Whether the suspect answered asked[i] with its secret response. */
  answered: readonly boolean[];
  /** Every licensed host's assignment: a Set or other membership test, or sorted pool indices. */
  assignments: ReadonlyMap<string, HostAssignment>;
  /** Inclusion probability the assignments were drawn with. */
  p: number;
  /** r, for the coalition-size estimate only. Default 0.9. */
  recall?: number;
  /** p0, the rate of spurious answers. Default 1e-3. */
  nullRate?: number;
  /** eps: probability of accusing any innocent. Default 1e-6. */
  falseAccusation?: number;
  /** N for the union bound: all licensed hosts, at least assignments.size. Default assignments.size. */
  hosts?: number;
  /** δ for nullAnswersBound. Default 1e-3. */
  missRate?: number;
};

export type HostTrace = {
  hostId: string;
  /** a: answered keys this host's copy holds. */
  answeredHeld: number;
  /** m: answered keys in total. */
  answered: number;
  /** m − a: answered keys this host's copy lacks. */
  missing: number;
  /** −log10 P[Bin(m, p) ≥ a]: decimal digits of evidence against this host (0 = none). */
  score: number;
  /** N · P[Bin(m, p) ≥ a], capped at 1: the chance an innocent would score this high. */
  pValue: number;
  accused: boolean;
  /** missing ≤ nullAnswersBound: this copy explains all answers but a null-rate few. */
  explainedByNullRate: boolean;
};

export type TraceOutcome = 'accused' | 'too-few-answers' | 'no-significant-host';

export type TraceResult = {
  outcome: TraceOutcome;
  /** Why the trace did or did not accuse, in words. */
  reason: string;
  /** n */
  asked: number;
  /** m */
  answered: number;
  /** ceil(ln(N/eps) / ln(1/p)) */
  minAnsweredToAccuse: number;
  nullAnswersBound: number;
  /** K̂ = ln((m/n − p0) / r) / ln p: the coalition size the answer rate suggests; null if m/n ≤ p0. */
  estimatedCoalition: number | null;
  falseAccusation: number;
  /** Accused host ids, strongest evidence first. */
  accused: string[];
  /** Every host, strongest evidence first. */
  hosts: HostTrace[];
};

export function traceHosts(input: TraceHostsInput): TraceResult {
  const { asked, answered, assignments, p } = input;
  const recall = input.recall ?? 0.9;
  const nullRate = input.nullRate ?? 1e-3;
  const falseAccusation = input.falseAccusation ?? 1e-6;
  const missRate = input.missRate ?? 1e-3;
  const hosts = input.hosts ?? assignments.size;
  requireProbability('p', p, { zero: true, one: true });
  requireProbability('recall', recall, { zero: true });
  requireProbability('nullRate', nullRate, { one: true });
  requireProbability('falseAccusation', falseAccusation, { zero: true, one: true });
  requireProbability('missRate', missRate, { zero: true, one: true });
  requireCount('hosts', hosts, Math.max(1, assignments.size));
  if (asked.length !== answered.length) {
    throw new TracingInputError(`asked has ${asked.length} keys but answered has ${answered.length} entries; give one answer per asked key`);
  }
  const seen = new Set<number>();
  for (const index of asked) {
    if (!Number.isInteger(index) || index < 0) throw new TracingInputError(`asked key ${index} is not a pool index`);
    // A key asked twice is one observation counted twice, which would break the binomial model.
    if (seen.has(index)) throw new TracingInputError(`asked key ${index} appears twice; ask each pool key once`);
    seen.add(index);
  }

  const n = asked.length;
  const answeredKeys = asked.filter((_, i) => answered[i] === true);
  const m = answeredKeys.length;
  const logHosts = Math.log(hosts);
  const logEps = Math.log(falseAccusation);
  const minAnsweredToAccuse = Math.ceil((Math.log(hosts) - logEps) / -Math.log(p));
  const nullAnswersBound = binomialUpperQuantile(n, nullRate, missRate);
  const rate = n === 0 ? 0 : m / n;
  const estimatedCoalition = rate > nullRate ? Math.log(Math.min(1, (rate - nullRate) / recall)) / Math.log(p) : null;
  const tails = logUpperTails(m, p);

  const traces: HostTrace[] = [];
  for (const [hostId, assignment] of assignments) {
    const holds = toMembership(hostId, assignment);
    let held = 0;
    for (const key of answeredKeys) if (holds.has(key)) held += 1;
    const logTail = tails[held];
    const logPValue = Math.min(0, logHosts + logTail);
    traces.push({
      hostId,
      answeredHeld: held,
      answered: m,
      missing: m - held,
      score: Math.max(0, -logTail / Math.LN10),
      pValue: Math.exp(logPValue),
      accused: m >= minAnsweredToAccuse && logPValue <= logEps,
      explainedByNullRate: m - held <= nullAnswersBound,
    });
  }
  traces.sort((a, b) => b.score - a.score || (a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : 0));
  const accused = traces.filter((trace) => trace.accused).map((trace) => trace.hostId);

  let outcome: TraceOutcome;
  let reason: string;
  if (m < minAnsweredToAccuse) {
    outcome = 'too-few-answers';
    reason =
      `only ${m} of ${n} asked keys were answered; at least ${minAnsweredToAccuse} are needed before any of ${hosts} hosts ` +
      `can be accused at false-accusation rate ${falseAccusation} (inclusion p = ${p.toFixed(4)}); ask more keys`;
  } else if (accused.length === 0) {
    outcome = 'no-significant-host';
    reason = `no host holds enough of the ${m} answered keys to be accused at false-accusation rate ${falseAccusation}`;
  } else {
    outcome = 'accused';
    reason = `${accused.length} host(s) hold more of the ${m} answered keys than an innocent host would with probability ${falseAccusation}`;
  }
  return {
    outcome,
    reason,
    asked: n,
    answered: m,
    minAnsweredToAccuse,
    nullAnswersBound,
    estimatedCoalition,
    falseAccusation,
    accused,
    hosts: traces,
  };
}
