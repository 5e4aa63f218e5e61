import { binomialUpperQuantile, logBinomialPmf, logBinomialPmfs, logUpperTailNear } from './binomial';
import { TracingInputError, requireCount, requireProbability } from './errors';
import { InnocentTails, fewestAnsweredToAccuse } from './innocent';
import { MERGES, type Merge, type MergeChannel, mergeChannel, requireMerge } from './merge';
import { normalUpper, normalUpperQuantile } from './normal';

/**
 * Sizing of a random-inclusion code so that every member of a coalition of up to K hosts is
 * accused, whichever way the coalition merged its copies (merge.ts: 'and', 'majority', 'random',
 * 'soup').
 *
 * The trace (trace.ts) accuses host h iff its agreement D ≥ d*(m) or its count of answered keys
 * held a ≥ s*(m), each threshold exact for an innocent at eps / 2N. That side needs no plan. The
 * plan is about the other side: a member must pass one of the thresholds with probability
 * ≥ 1 − δ/k for each of the k members (union bound: then every member is accused with
 * probability ≥ 1 − δ).
 *
 * Per asked key, a member sees one of four things, with probabilities from mergeChannel:
 *   answered ∧ held π₊, answered ∧ lacked α − π₊, unanswered ∧ held π₋, unanswered ∧ lacked 1 − α − π₋
 * and keys are independent; but the thresholds move with the number M of answered keys. An
 * innocent's D has variance n·p(1 − p) whatever m is and mean n(1 − p) + (2p − 1)·m, so
 * d*(m) ≈ d*(m̄) + (2p − 1)(m − m̄) around the expected m̄ = n·α, and a member passes iff
 *   Y = D − (2p − 1)·M ≥ d*(m̄) − (2p − 1)·m̄
 where Y is a sum of n independent per-key terms with exactly known mean and variance. The plan:
 *   - takes d*(m̄) exactly (InnocentTails), at m̄ rounded, and estimates the agreement miss by the
 *     normal approximation of Y, without continuity correction (which would make it smaller);
 *   - computes the one-sided miss P[a < s*(M)] exactly (a sum over m of binomial tails: small
 *     counts near s* ≈ m, as for 'and' at high p, are where a normal approximation fails);
 *   - takes a member's miss as the smaller of the two (it is missed only if it fails both);
 *   - takes n the least count with miss ≤ δ/(2k) (a margin of 2 on the approximation), for every
 *     merge in `merges` and every k = 1..K;
 *   - takes p from a grid (0.30, 0.35, …, 0.80 and e^(−1/K)) minimising n, unless given.
 * This is an approximation (normal tails, linearised thresholds). memberMissProbability computes a
 * member's miss exactly under the merge model, too slowly for every step of the search; the spec
 * checks with it that plans meet δ/k, and the bench prints it and simulates the traced fractions.
 *
 * Why p is chosen and not fixed at e^(−1/K): that value maximised the 'and' evidence per key of
 * the one-sided count; a router ('random') leaves each member only a 1/k share of the answers, the
 * two-sided score wants p nearer 1/2 for it, and the best p depends on the merges considered.
 */

export type PlanAssignmentInput = {
  /** N: hosts licensed for the model version (each is a suspect in the union bound). */
  hosts: number;
  /** K: the largest coalition to trace. */
  coalition: number;
  /** eps: probability that any innocent host is accused in one trace. Default 1e-6. */
  falseAccusation?: number;
  /** r: probability that a member would still answer a fingerprint its copy holds. Default 0.9. */
  recall?: number;
  /** p0: probability that the merged model answers a key anyway. Default 1e-3. */
  nullRate?: number;
  /** δ: probability that some member of a coalition of up to K escapes a trace. Default 1e-3. */
  missRate?: number;
  /** Traces the pool must serve: every trace burns the keys it asks (the suspect has seen them). Default 4. */
  audits?: number;
  /** Forces the inclusion probability instead of the best of the grid, e.g. to embed fewer fingerprints per copy. */
  p?: number;
  /** The merges a coalition may use; the plan holds against each. Default all four. */
  merges?: readonly Merge[];
  /** Measured soup answer rates by coalition size k: soupAnswer[k][j] = P[answer | j of k copies hold the key]. */
  soupAnswer?: Readonly<Record<number, readonly number[]>>;
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
  /** The merge (of `merges`) that needs the most keys: n is sized for it. */
  merge: Merge;
  /** The coalition size k (≤ K) at which `merge` needs the most keys. */
  bindingCoalition: number;
  /** The merges the plan holds against. */
  merges: Merge[];
  /** Keys each merge alone would need at this p (the largest over k = 1..K). */
  keysByMerge: Partial<Record<Merge, number>>;
  /** n · α: keys the binding coalition is expected to answer. */
  expectedAnswered: number;
  /** Fewest answered keys (of n) with which any host can be accused: 2N · p^m (1 − p)^(n−m) ≤ eps; n + 1 if none. */
  minAnsweredToAccuse: number;
  /** s*: answered keys held that accuse a host on their own when the binding coalition answers its expected number of keys. */
  answeredNeeded: number;
  /** d*: agreements (answered keys held + unanswered keys lacked) that accuse a host on their own, likewise. */
  agreementNeeded: number;
  /** A binding member's expected agreements, n · (π₊ + 1 − α − π₋). */
  expectedAgreement: number;
  /** The planning estimate of the probability that the binding member is missed (≤ δ/(2k)); memberMissProbability gives the exact one. */
  memberMissEstimate: number;
  /** z: the (1 − δ/2) quantile of Bin(n, p0), the null answers a trace attributes to chance. */
  nullAnswersBound: number;
};

const MAX_KEYS = 1_000_000;
const P_GRID = [0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8];
/** Inclusion probabilities whose rough n is within this factor of the best are sized exactly. */
const SHORTLIST = 1.15;
/**
 * The sizing asks for a member miss of δ/(2k), not δ/k: against the exact miss
 * (memberMissProbability) the normal approximation of the agreement side was up to ~30%
 * optimistic (majority merges at δ = 1e-3), and halving the target costs ~3% more keys.
 */
const MISS_MARGIN = 2;
/** Cases whose rough n is within this factor of the largest at their p are sized exactly first. */
const CONTENDER = 0.8;

type Case = {
  merge: Merge;
  coalition: number;
  channel: MergeChannel;
  /** Per-key mean and standard deviation of Y = X − (2p − 1)·answered, X = 1 where holding and answering agree. */
  agreement: { mean: number; sd: number };
};

/** One (merge, k) at one p. */
function caseAt(merge: Merge, coalition: number, p: number, input: Required<Pick<PlanAssignmentInput, 'recall' | 'nullRate'>> & PlanAssignmentInput): Case {
  const channel = mergeChannel({ merge, coalition, p, recall: input.recall, nullRate: input.nullRate, soupAnswer: input.soupAnswer?.[coalition] });
  const { answered: alpha, answeredHeld: plus, unansweredHeld: minus } = channel;
  const slope = 2 * p - 1;
  const lackAnswered = alpha - plus; // Y = −slope
  const agreeUnanswered = 1 - alpha - minus; // Y = 1
  const mean = plus * (1 - slope) - lackAnswered * slope + agreeUnanswered;
  const square = plus * (1 - slope) ** 2 + lackAnswered * slope ** 2 + agreeUnanswered;
  return { merge, coalition, channel, agreement: { mean, sd: Math.sqrt(Math.max(0, square - mean * mean)) } };
}

type Miss = { miss: number; m: number; agreementNeeded: number; answeredNeeded: number };

/** Sizing at one p: a rough n by normal approximations on both sides, then the exact innocent thresholds. */
class Sizing {
  private readonly agreementThresholds = new Map<number, number>();
  private readonly answeredThresholds = new Map<number, number>();
  /** ln(eps / 2N): each of the two scores is tested at half of eps. */
  readonly logShare: number;
  private readonly zInnocent: number;

  constructor(
    readonly p: number,
    hosts: number,
    falseAccusation: number,
    private readonly missRate: number,
  ) {
    this.logShare = Math.log(falseAccusation / (2 * hosts));
    this.zInnocent = normalUpperQuantile(falseAccusation / (2 * hosts));
  }

  /** d*(m) at n asked keys. */
  agreementThreshold(n: number, m: number): number {
    const key = n * (MAX_KEYS + 1) + m;
    let d = this.agreementThresholds.get(key);
    if (d === undefined) {
      const hint = m * this.p + (n - m) * (1 - this.p) + this.zInnocent * Math.sqrt(n * this.p * (1 - this.p));
      d = new InnocentTails(n, m, this.p).agreementThreshold(this.logShare, hint);
      this.agreementThresholds.set(key, d);
    }
    return d;
  }

  /** s*(m): it depends on m alone. */
  answeredThreshold(m: number): number {
    let s = this.answeredThresholds.get(m);
    if (s === undefined) {
      let low = 0; // P[a ≥ 0] = 1 is never below the level
      let high = m + 1; // P[a ≥ m + 1] = 0 always is
      while (high - low > 1) {
        const mid = (low + high) >>> 1;
        if (logUpperTailNear(m, this.p, mid) <= this.logShare) high = mid;
        else low = mid;
      }
      s = high;
      this.answeredThresholds.set(m, s);
    }
    return s;
  }

  /**
   * P[a member's answered keys held stay below s*(M)], exact under the merge model: M ~ Bin(n, α),
   * and given M = m its held count is Bin(m, π₊/α). The m beyond 9 standard deviations are counted
   * as misses.
   */
  answeredHeldMiss(c: Case, n: number): number {
    const { answered: alpha, answeredHeld: plus } = c.channel;
    const held = alpha > 0 ? Math.min(1, plus / alpha) : 0;
    const spread = 9 * Math.sqrt(n * alpha * (1 - alpha)) + 1;
    let miss = 0;
    let covered = 0;
    for (let m = Math.max(0, Math.floor(n * alpha - spread)); m <= Math.min(n, Math.ceil(n * alpha + spread)); m += 1) {
      const weight = Math.exp(logBinomialPmf(n, alpha, m));
      const needed = this.answeredThreshold(m);
      covered += weight;
      miss += weight * (needed > m ? 1 : 1 - Math.exp(logUpperTailNear(m, held, needed)));
    }
    return Math.min(1, miss + Math.max(0, 1 - covered));
  }

  /** n at which the normal approximations on both sides (innocent and member) just meet, for the better score. */
  rough(c: Case): number {
    const { byAgreement, byHeld } = this.roughByScore(c);
    return Math.min(byAgreement, byHeld);
  }

  private roughByScore(c: Case): { byAgreement: number; byHeld: number } {
    const { p } = this;
    const zMember = normalUpperQuantile(this.missRate / (MISS_MARGIN * c.coalition));
    const { answered: alpha, answeredHeld: plus } = c.channel;
    const gap = c.agreement.mean - (1 - p); // an innocent's Y has mean 1 − p per key
    const byAgreement = gap > 0 ? ((this.zInnocent * Math.sqrt(p * (1 - p)) + zMember * c.agreement.sd) / gap) ** 2 : Infinity;
    const gapHeld = plus - p * alpha; // a − p·M, innocent mean 0
    const sdHeld = Math.sqrt(Math.max(0, plus * (1 - p) ** 2 + (alpha - plus) * p * p - gapHeld * gapHeld));
    const byHeld = gapHeld > 0 ? ((this.zInnocent * Math.sqrt(alpha * p * (1 - p)) + zMember * sdHeld) / gapHeld) ** 2 : Infinity;
    return { byAgreement, byHeld };
  }

  /**
   * P[member missed] at n keys. It must fail both scores, so the smaller of the two misses bounds
   * it (memberMissProbability computes the joint miss exactly, too slowly for the search). The
   * one-sided miss, an exact but costlier sum, is only worked out where that score can be the
   * stronger one (rough n within 1.5× the agreement's: in practice the 'and' merge), and only
   * when the agreement alone does not already meet `enough`.
   */
  miss(c: Case, n: number, enough = 0): Miss {
    const { p } = this;
    const m = Math.min(n, Math.max(0, Math.round(n * c.channel.answered)));
    const agreementNeeded = this.agreementThreshold(n, m);
    const answeredNeeded = this.answeredThreshold(m);
    const sd = c.agreement.sd * Math.sqrt(n);
    const needed = agreementNeeded - (2 * p - 1) * m;
    const missAgreement = agreementNeeded > n ? 1 : sd === 0 ? (n * c.agreement.mean >= needed ? 0 : 1) : normalUpper((n * c.agreement.mean - needed) / sd);
    const { byAgreement, byHeld } = this.roughByScore(c);
    const consultHeld = missAgreement > enough && byHeld <= 1.5 * byAgreement;
    const miss = consultHeld ? Math.min(missAgreement, this.answeredHeldMiss(c, n)) : missAgreement;
    return { miss, m, agreementNeeded, answeredNeeded };
  }

  private readonly sized = new Map<string, number>();

  /** The least n with miss ≤ δ/(MISS_MARGIN·k), remembered per distinct channel (k = 1 is one case for every merge). */
  keys(c: Case): number {
    const key = `${c.coalition}:${c.channel.answered}:${c.channel.answeredHeld}`;
    let n = this.sized.get(key);
    if (n === undefined) {
      n = this.search(c);
      this.sized.set(key, n);
    }
    return n;
  }

  /** miss falls with n, so the search brackets from the rough n and bisects (to within 0.1%). */
  private search(c: Case): number {
    const target = this.missRate / (MISS_MARGIN * c.coalition);
    const ok = (n: number) => this.miss(c, n, target).miss <= target;
    const guess = Math.max(1, Math.ceil(this.rough(c)));
    if (guess > MAX_KEYS) return Infinity;
    let low: number; // fails (or 0)
    let high: number; // passes
    if (ok(guess)) {
      high = guess;
      low = Math.floor(guess * 0.9);
      while (low > 0 && ok(low)) {
        high = low;
        low = Math.floor(low * 0.9);
      }
    } else {
      low = guess;
      high = Math.ceil(guess * 1.1) + 1;
      while (!ok(high)) {
        if (high > MAX_KEYS) return Infinity;
        low = high;
        high = Math.ceil(high * 1.1) + 1;
      }
    }
    // To the key below 1000 keys, to 0.1% above: past that, one more key changes nothing that
    // matters and a huge plan (K = 16) would spend seconds on it.
    while (high - low > Math.max(1, Math.floor(high / 1000))) {
      const mid = Math.floor((low + high) / 2);
      if (ok(mid)) high = mid;
      else low = mid;
    }
    return high;
  }
}

export type MemberMissInput = {
  /** n: keys asked. */
  keys: number;
  /** Inclusion probability. */
  p: number;
  /** What one member sees per key (mergeChannel). */
  channel: MergeChannel;
  /** N */
  hosts: number;
  /** eps */
  falseAccusation: number;
};

/**
 * P[one given coalition member is not accused] when n keys are asked, exact under the merge model
 * (keys independent, each answered and held as `channel` says). Given m answered keys, the member's
 * answered keys held a ~ Bin(m, π₊/α) and its unanswered keys lacked c ~ Bin(n − m, (1 − α − π₋)/(1 − α))
 * are independent, the trace's thresholds s*(m), d*(m) are exact, and the member is missed iff
 * a < s* and a + c < d*:
 *   P[miss] = Σ_m P[M = m] · Σ_{a < s*(m)} P[a] · P[c < d*(m) − a]
 * The sum skips the m with P[M = m] below e^-30 of the mode and counts their whole mass as missed,
 * so the result is an upper bound (by at most ~1e-12). Cost O(n^1.5): about 0.1 s at n = 900, too
 * slow for every step of the sizing, so planAssignment sizes with the normal approximation and a
 * margin, and the spec and the bench check its plans with this.
 */
export function memberMissProbability(input: MemberMissInput): number {
  const { keys: n, p, channel, hosts, falseAccusation } = input;
  const logShare = Math.log(falseAccusation / (2 * hosts));
  const alpha = Math.min(1, Math.max(0, channel.answered));
  const heldIfAnswered = alpha > 0 ? Math.min(1, channel.answeredHeld / alpha) : 0;
  const lackedIfUnanswered = alpha < 1 ? Math.min(1, Math.max(0, (1 - alpha - channel.unansweredHeld) / (1 - alpha))) : 0;
  const answeredPmf = logBinomialPmfs(n, alpha);
  let peak = -Infinity;
  for (const value of answeredPmf) peak = Math.max(peak, value);
  let miss = 0;
  let covered = 0;
  for (let m = 0; m <= n; m += 1) {
    // Counts m below e^-30 of the mode are skipped; their mass is counted as missed below.
    if (answeredPmf[m] < peak - 30) continue;
    const weight = Math.exp(answeredPmf[m]);
    covered += weight;
    const innocent = new InnocentTails(n, m, p);
    const answeredNeeded = innocent.answeredHeldThreshold(logShare);
    const agreementNeeded = innocent.agreementThreshold(logShare, m * p + (n - m) * (1 - p));
    const held = logBinomialPmfs(m, heldIfAnswered);
    const lacked = logBinomialPmfs(n - m, lackedIfUnanswered);
    // below[x] = P[c < x]
    const below = new Float64Array(n - m + 2);
    for (let x = 1; x <= n - m + 1; x += 1) below[x] = below[x - 1] + Math.exp(lacked[x - 1]);
    let inner = 0;
    for (let a = 0; a < Math.min(answeredNeeded, m + 1); a += 1) {
      const room = Math.min(n - m + 1, agreementNeeded - a);
      if (room > 0) inner += Math.exp(held[a]) * Math.min(1, below[room]);
    }
    miss += weight * inner;
  }
  return Math.min(1, miss + Math.max(0, 1 - covered));
}

export function planAssignment(input: PlanAssignmentInput): AssignmentPlan {
  const { hosts, coalition } = input;
  const falseAccusation = input.falseAccusation ?? 1e-6;
  const recall = input.recall ?? 0.9;
  const nullRate = input.nullRate ?? 1e-3;
  const missRate = input.missRate ?? 1e-3;
  const audits = input.audits ?? 4;
  const merges = [...(input.merges ?? MERGES)];
  requireCount('hosts', hosts, 1);
  requireCount('coalition', coalition, 1);
  if (coalition > hosts) throw new TracingInputError(`coalition (${coalition}) cannot exceed hosts (${hosts})`);
  requireProbability('falseAccusation', falseAccusation, { zero: true, one: true });
  requireProbability('recall', recall, { zero: true });
  requireProbability('nullRate', nullRate, { one: true });
  requireProbability('missRate', missRate, { zero: true, one: true });
  requireCount('audits', audits, 1);
  if (merges.length === 0) throw new TracingInputError('merges must name at least one merge (and, majority, random, soup)');
  merges.forEach(requireMerge);
  if (input.p !== undefined) requireProbability('p', input.p, { zero: true, one: true });
  const settings = { ...input, recall, nullRate };

  const grid = input.p !== undefined ? [input.p] : [...P_GRID, Math.exp(-1 / coalition)];
  const casesAt = (p: number) => merges.flatMap((merge) => Array.from({ length: coalition }, (_, i) => caseAt(merge, i + 1, p, settings)));
  let refusal: string | undefined;
  const candidates: { p: number; cases: Case[]; rough: number; sizing: Sizing }[] = [];
  for (const p of grid) {
    const cases = casesAt(p);
    const silent = cases.find((c) => c.channel.genuine <= nullRate);
    const sizing = new Sizing(p, hosts, falseAccusation, missRate);
    const blind = cases.find((c) => sizing.rough(c) === Infinity);
    if (silent || blind) {
      refusal ??= silent
        ? `a coalition of ${silent.coalition} merging by '${silent.merge}' answers only ${silent.channel.genuine.toExponential(2)} of asked keys at p = ${p.toFixed(4)}, no more than the null rate ${nullRate}; raise p or lower the coalition size`
        : `a coalition of ${blind!.coalition} merging by '${blind!.merge}' leaves no trace in its answers at p = ${p.toFixed(4)}; choose another p`;
      continue;
    }
    candidates.push({ p, cases, sizing, rough: Math.max(...cases.map((c) => sizing.rough(c))) });
  }
  if (candidates.length === 0) throw new TracingInputError(refusal!);

  // Exact sizing only for the p the rough sizing says can win, and at each p first for the cases
  // that the rough sizing says bind; every other case is then checked at the resulting n.
  const best = Math.min(...candidates.map((c) => c.rough));
  let chosen: { p: number; cases: Case[]; sizing: Sizing; keys: number; binding: Case } | undefined;
  for (const { p, cases, sizing, rough } of candidates.filter((c) => c.rough <= best * SHORTLIST)) {
    let binding = cases[0];
    let keys = 0;
    const raise = (c: Case) => {
      const needed = sizing.keys(c);
      if (needed > keys) [keys, binding] = [needed, c];
    };
    cases.filter((c) => sizing.rough(c) >= rough * CONTENDER).forEach(raise);
    for (let failing = cases; failing.length > 0 && keys <= MAX_KEYS;) {
      failing = cases.filter((c) => {
        const target = missRate / (MISS_MARGIN * c.coalition);
        return sizing.miss(c, keys, target).miss > target;
      });
      // A case sized below n can still dip above its target at n (the thresholds are integers): step past that.
      for (const c of failing) if (sizing.keys(c) > keys) raise(c);
      if (failing.length > 0 && failing.every((c) => sizing.keys(c) <= keys)) keys += 1;
    }
    if (!chosen || keys < chosen.keys) chosen = { p, cases, sizing, keys, binding };
  }
  const n = chosen!.keys;
  if (n > MAX_KEYS) throw new TracingInputError('no feasible plan within a million keys; relax falseAccusation or missRate, or lower the coalition size');

  const { p, cases, sizing, binding } = chosen!;
  // Per merge, the keys its hardest coalition size needs alone (sized exactly for the contenders).
  const keysByMerge: Partial<Record<Merge, number>> = {};
  for (const merge of merges) {
    const own = cases.filter((c) => c.merge === merge);
    const hardest = Math.max(...own.map((c) => sizing.rough(c)));
    keysByMerge[merge] = Math.max(...own.filter((c) => sizing.rough(c) >= hardest * CONTENDER).map((c) => sizing.keys(c)));
  }
  const at = sizing.miss(binding, n);
  const poolSize = n * audits;
  const { answered, answeredHeld, unansweredHeld } = binding.channel;
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
    merge: binding.merge,
    bindingCoalition: binding.coalition,
    merges,
    keysByMerge,
    expectedAnswered: n * answered,
    minAnsweredToAccuse: fewestAnsweredToAccuse(n, p, sizing.logShare),
    answeredNeeded: at.answeredNeeded,
    agreementNeeded: at.agreementNeeded,
    expectedAgreement: n * (answeredHeld + 1 - answered - unansweredHeld),
    memberMissEstimate: at.miss,
    nullAnswersBound: binomialUpperQuantile(n, nullRate, missRate / 2),
  };
}
