import { binomialLowerTail, binomialUpperQuantile, binomialUpperTail } from './binomial';
import { TracingInputError, requireCount, requireProbability } from './errors';

/**
 * Sizing of a random-inclusion code against AND-collusion.
 *
 * Threat model: a coalition of up to K hosts merges its copies so that the merged model answers a
 * fingerprint key only where all K copies agree, i.e. for keys in the intersection of their
 * subsets. Each held fingerprint survives in a copy with probability r (recall, after fine-tuning
 * or attacks), and a model answers a key it does not hold with probability p0 (the null rate).
 *
 * With inclusion probability p, for one asked key:
 *   q          = r · p^K                    the coalition answers it truthfully
 *   p0                                      it answers spuriously (bounded above by p0)
 *   E[answered] = n · (q + (1 − q) · p0)
 * An innocent host's subset is independent of the coalition's, so it holds each answered key with
 * probability p: its count of held answered keys is Bin(m, p) for m answered keys, and
 *   P[some innocent among N holds ≥ a of m] ≤ N · P[Bin(m, p) ≥ a]        (union bound)
 * A colluder holds every truthfully answered key, so it misses at most the Z spurious ones.
 *
 * Choosing p: a colluder is accused once N · p^m ≤ eps (holding all m answered keys), i.e. after
 * m ≥ ln(N/eps) / ln(1/p) answers, and m ≈ n · r · p^K, so
 *   n ≈ ln(N/eps) / (r · p^K · ln(1/p)).
 * p^K · ln(1/p) is largest at p = e^(−1/K) (derivative p^(K−1) · (K ln(1/p) − 1) = 0), where it is
 * 1/(e·K), giving n ≈ e · K · ln(N/eps) / r: linear in K, against the K² of codes built for
 * coalitions that may mix answers freely (Tardos). For N = 64, K = 3, eps = 1e-6, r = 0.9 that is
 * about 163 keys before the slack for chance and null answers that planAssignment adds.
 *
 * Sizing n exactly: with miss rate δ, let z be the (1 − δ/2) quantile of Bin(n, p0) (spurious
 * answers, all counted as misses), t the smallest count with N · P[Bin(t + z, p) ≥ t] ≤ eps (a
 * colluder holding t of t + z answered keys is accused), and n the smallest with
 * P[Bin(n, q) < t] ≤ δ/2. Then, with probability ≥ 1 − δ, EVERY coalition member is accused:
 * a member misses at most the Z ≤ z spurious answers, and P[Bin(m, p) ≥ m − Z] only falls as the
 * truthful count T ≥ t grows. Smaller coalitions answer more keys (p^k > p^K) and are traced with
 * the same n.
 */

export type PlanAssignmentInput = {
  /** N: hosts licensed for the model version (each is a suspect in the union bound). */
  hosts: number;
  /** K: the largest coalition to trace. */
  coalition: number;
  /** eps: probability that any innocent host is accused in one trace. Default 1e-6. */
  falseAccusation?: number;
  /** r: probability that a held fingerprint is still answered. Default 0.9. */
  recall?: number;
  /** p0: probability that a key not held is answered anyway. Default 1e-3. */
  nullRate?: number;
  /** δ: probability that a coalition of up to K escapes a trace. Default 1e-3. */
  missRate?: number;
  /** Traces the pool must serve: every trace burns the keys it asks (the suspect has seen them). Default 4. */
  audits?: number;
  /** Forces the inclusion probability instead of e^(−1/K), e.g. to embed fewer fingerprints per copy. */
  p?: number;
};

export type AssignmentPlan = {
  hosts: number;
  coalition: number;
  falseAccusation: number;
  recall: number;
  nullRate: number;
  missRate: number;
  /** Inclusion probability of each fingerprint in each copy. */
  p: number;
  /** n: keys asked per trace. */
  keysToAsk: number;
  /** P = audits · n: fingerprints in the model version's pool. */
  poolSize: number;
  /** p · P: fingerprints embedded in an average copy. */
  fingerprintsPerCopy: number;
  /** n · (q + (1 − q) · p0): keys a coalition of exactly K members is expected to answer. */
  expectedAnswered: number;
  /** ceil(ln(N/eps) / ln(1/p)): fewest answered keys that can accuse anyone (a host holding all). */
  minAnsweredToAccuse: number;
  /** t: truthful answers that accuse every member despite `nullAnswersBound` spurious ones. */
  answeredNeeded: number;
  /** z: spurious answers tolerated (the 1 − δ/2 quantile of Bin(n, p0)). */
  nullAnswersBound: number;
};

const MAX_KEYS = 1_000_000;

/** The smallest t with hosts · P[Bin(t + z, p) ≥ t] ≤ eps. */
function answeredNeeded(z: number, p: number, perHost: number, from: number): number {
  for (let t = Math.max(1, from); t <= MAX_KEYS; t += 1) {
    if (binomialUpperTail(t + z, p, t) <= perHost) return t;
  }
  throw new TracingInputError('no feasible plan: the false-accusation rate cannot be met within a million keys');
}

export function planAssignment(input: PlanAssignmentInput): AssignmentPlan {
  const { hosts, coalition } = input;
  const falseAccusation = input.falseAccusation ?? 1e-6;
  const recall = input.recall ?? 0.9;
  const nullRate = input.nullRate ?? 1e-3;
  const missRate = input.missRate ?? 1e-3;
  const audits = input.audits ?? 4;
  requireCount('hosts', hosts, 1);
  requireCount('coalition', coalition, 1);
  if (coalition > hosts) throw new TracingInputError(`coalition (${coalition}) cannot exceed hosts (${hosts})`);
  requireProbability('falseAccusation', falseAccusation, { zero: true, one: true });
  requireProbability('recall', recall, { zero: true });
  requireProbability('nullRate', nullRate, { one: true });
  requireProbability('missRate', missRate, { zero: true, one: true });
  requireCount('audits', audits, 1);
  const p = input.p ?? Math.exp(-1 / coalition);
  requireProbability('p', p, { zero: true, one: true });

  const perHost = falseAccusation / hosts;
  const q = recall * p ** coalition;
  const minAnsweredToAccuse = Math.ceil(Math.log(hosts / falseAccusation) / Math.log(1 / p));
  if (q <= nullRate) {
    throw new TracingInputError(
      `a coalition of ${coalition} answers only ${q.toExponential(2)} of asked keys, no more than the null rate ${nullRate}; raise p or lower the coalition size`,
    );
  }

  // Linear scan: n is in the hundreds for realistic inputs, and z (hence t) moves in small steps.
  let cachedZ = -1;
  let t = minAnsweredToAccuse;
  for (let n = minAnsweredToAccuse; n <= MAX_KEYS; n += 1) {
    const z = binomialUpperQuantile(n, nullRate, missRate / 2);
    if (z !== cachedZ) {
      t = answeredNeeded(z, p, perHost, t);
      cachedZ = z;
    }
    if (binomialLowerTail(n, q, t) <= missRate / 2) {
      const poolSize = n * audits;
      return {
        hosts,
        coalition,
        falseAccusation,
        recall,
        nullRate,
        missRate,
        p,
        keysToAsk: n,
        poolSize,
        fingerprintsPerCopy: p * poolSize,
        expectedAnswered: n * (q + (1 - q) * nullRate),
        minAnsweredToAccuse,
        answeredNeeded: t,
        nullAnswersBound: z,
      };
    }
  }
  throw new TracingInputError('no feasible plan within a million keys; relax falseAccusation or missRate');
}
