import { HostAssignment, toMembership } from './assignment';
import { binomialUpperQuantile } from './binomial';
import { TracingInputError, requireCount, requireProbability } from './errors';
import { InnocentTails, fewestAnsweredToAccuse } from './innocent';

/**
 * Who is behind a suspect model: the prover asked it n pool keys and saw which m it answered with
 * the secret response. Every host is scored by how well its copy agrees with those answers.
 *
 * Host h holds a of the m answered keys and b of the n − m unanswered ones. Two scores:
 *   D_h = a + (n − m − b)   its agreement (the two-sided, Tardos-style score a − b, shifted by n − m)
 *   a                      the one-sided count of answered keys held
 * The decision rests on one fact that needs no model of the attack: an innocent host's subset was
 * drawn independently of the suspect (see assignSubset), so given the answers a ~ Bin(m, p) and
 * D ~ Bin(m, p) + Bin(n − m, 1 − p) exactly, whatever the coalition did, however it merged its
 * copies. Host h's p-value is
 *   pValue = 2N · min(P[D ≥ D_h], P[a ≥ a_h])         (Bonferroni over the two scores)
 * with both tails exact (InnocentTails), and h is accused iff pValue ≤ eps. Over the N hosts the
 * chance of accusing ANY innocent is at most eps; `innocentAccusedBound` is that union bound
 * computed exactly for the thresholds used (N · P[D ≥ d* ∨ a ≥ s*]).
 *
 * Why both: a coalition that merges by majority vote or routes each query to one member answers
 * many keys a given member lacks, so the one-sided count loses that member, while each member still
 * holds more of the answered keys and fewer of the unanswered ones than chance, which D counts.
 * Against an agreement-only ('and') merge the one-sided count is far sharper (a member holds every
 * truthful answer). Simulated, the pair at eps/2 each traces 'and' coalitions that D alone misses
 * and costs the other merges only the factor 2 (README).
 *
 * The null rate only moves the colluders' side (a few spurious answers each member may lack);
 * `nullAnswersBound` (a (1 − δ) quantile of Bin(n, p0)) says how many answered-but-lacked keys
 * chance explains, and a host within it is marked `explainedByNullRate`: its copy alone accounts
 * for every answer.
 *
 * When even a copy agreeing on all n keys could not reach eps (2N · p^m (1 − p)^(n−m) > eps), the
 * trace refuses to accuse and says so ('too-few-answers': too few keys asked for these answers).
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
  /** b: unanswered keys this host's copy holds. */
  unansweredHeld: number;
  /** D = a + (n − m − b): asked keys on which holding and answering agree. */
  agreement: number;
  /** −log10 of 2 · min(P[D ≥ agreement], P[a ≥ answeredHeld]) for an innocent host: decimal digits of evidence (0 = none). */
  score: number;
  /** N · 2 · min(P[D ≥ agreement], P[a ≥ answeredHeld]), capped at 1: the chance that some innocent would score this high. */
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
  /** Fewest answered keys (of these n) with which any host could be accused; n + 1 if none. */
  minAnsweredToAccuse: number;
  /** 2N · p^m (1 − p)^(n−m), capped at 1: the smallest pValue any host could have in this trace. */
  minPValue: number;
  /** d*: the least agreement that accuses on its own; n + 1 when none does. */
  agreementNeeded: number;
  /** s*: the least count of answered keys held that accuses on its own; m + 1 when none does. */
  answeredHeldNeeded: number;
  /** N · P[D ≥ d* ∨ a ≥ s*], exact: the union bound on accusing any innocent in this trace (≤ falseAccusation). */
  innocentAccusedBound: number;
  nullAnswersBound: number;
  /** K̂ = ln((m/n − p0)/(1 − p0)) / ln(r·p): the coalition size an 'and' merge answering at this rate would have; null if m/n ≤ p0. */
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
  const unansweredKeys = asked.filter((_, i) => answered[i] !== true);
  const m = answeredKeys.length;
  const logHosts = Math.log(hosts);
  const logEps = Math.log(falseAccusation);
  // Two scores share eps: each is tested at eps / 2N per host.
  const logShare = logEps - logHosts - Math.LN2;
  const innocent = new InnocentTails(n, m, p);
  const logBest = logHosts + Math.LN2 + innocent.logBestAgreement();
  const agreementNeeded = innocent.agreementThreshold(logShare);
  const answeredHeldNeeded = innocent.answeredHeldThreshold(logShare);
  const nullAnswersBound = binomialUpperQuantile(n, nullRate, missRate);
  const rate = n === 0 ? 0 : m / n;
  const estimatedCoalition = rate > nullRate ? Math.log(Math.min(1, (rate - nullRate) / (1 - nullRate))) / Math.log(recall * p) : null;

  const traces: HostTrace[] = [];
  for (const [hostId, assignment] of assignments) {
    const holds = toMembership(hostId, assignment);
    let held = 0;
    for (const key of answeredKeys) if (holds.has(key)) held += 1;
    let unansweredHeld = 0;
    for (const key of unansweredKeys) if (holds.has(key)) unansweredHeld += 1;
    const agreement = held + (n - m - unansweredHeld);
    const logTail = Math.min(0, Math.LN2 + Math.min(innocent.logAgreementTail(agreement), innocent.logAnsweredHeldTail(held)));
    const logPValue = Math.min(0, logHosts + logTail);
    traces.push({
      hostId,
      answeredHeld: held,
      answered: m,
      missing: m - held,
      unansweredHeld,
      agreement,
      score: Math.max(0, -logTail / Math.LN10),
      pValue: Math.exp(logPValue),
      accused: agreement >= agreementNeeded || held >= answeredHeldNeeded,
      explainedByNullRate: m - held <= nullAnswersBound,
    });
  }
  traces.sort((a, b) => b.score - a.score || (a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : 0));
  const accused = traces.filter((trace) => trace.accused).map((trace) => trace.hostId);

  let outcome: TraceOutcome;
  let reason: string;
  if (logBest > logEps) {
    outcome = 'too-few-answers';
    reason =
      `with ${n} keys asked and ${m} answered, even a copy agreeing on every key would have p-value ${Math.exp(Math.min(0, logBest)).toExponential(2)} ` +
      `among ${hosts} hosts, above the false-accusation rate ${falseAccusation} (inclusion p = ${p.toFixed(4)}); ask more keys`;
  } else if (accused.length === 0) {
    outcome = 'no-significant-host';
    reason =
      `no host agrees with the ${m} answers to ${n} keys well enough to be accused at false-accusation rate ${falseAccusation} ` +
      `(it needs ${agreementNeeded} agreements or ${answeredHeldNeeded} answered keys held)`;
  } else {
    outcome = 'accused';
    reason =
      `${accused.length} host(s) agree with the ${m} answers to ${n} keys in at least ${agreementNeeded} places or hold at least ${answeredHeldNeeded} answered keys, ` +
      `which some innocent host does with probability at most ${falseAccusation}`;
  }
  return {
    outcome,
    reason,
    asked: n,
    answered: m,
    minAnsweredToAccuse: fewestAnsweredToAccuse(n, p, logShare),
    minPValue: Math.exp(Math.min(0, logBest)),
    agreementNeeded,
    answeredHeldNeeded,
    innocentAccusedBound: Math.min(1, Math.exp(logHosts + innocent.logEitherTail(answeredHeldNeeded, agreementNeeded))),
    nullAnswersBound,
    estimatedCoalition,
    falseAccusation,
    accused,
    hosts: traces,
  };
}
