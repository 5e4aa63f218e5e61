import { logBinomialPmfs, logUpperTails } from './binomial';

/**
 * The exact distribution of an innocent host's scores against a suspect's answers.
 *
 * The prover asked n keys and the suspect answered m of them. For a host, a counts the answered keys
 * its copy holds and b the unanswered keys it holds; its agreement is
 *   D = a + (n − m − b)
 * (every key on which "held" and "answered" agree). An innocent host's subset was drawn
 * independently of the suspect, so given the answers a ~ Bin(m, p) and c = n − m − b ~ Bin(n − m, 1 − p),
 * independent, whatever the suspect is and however it was merged. Hence, exactly,
 *   P[D ≥ d]          = Σ_c P[c] · P[Bin(m, p) ≥ d − c]
 *   P[a ≥ s ∨ D ≥ d]  = P[a ≥ s] + Σ_{a < s} P[a] · P[c ≥ d − a]
 * computed in log space (the tails of interest are far below 1e-8). One instance serves a whole
 * trace: its tables are built once (O(n)), each distinct d then costs O(log n + √n) and is remembered.
 */
export class InnocentTails {
  /** ln P[a ≥ k], k = 0..m+1. */
  private readonly heldTail: Float64Array;
  /** ln P[a = k], k = 0..m, built only if logEitherTail asks. */
  private heldPmf?: Float64Array;
  /** ln P[c = k], k = 0..n−m. */
  private readonly lackedPmf: Float64Array;
  /** ln P[c ≥ k], k = 0..n−m+1, built only if logEitherTail asks. */
  private lackedTail?: Float64Array;
  private readonly memo = new Map<number, number>();

  constructor(
    readonly asked: number,
    readonly answered: number,
    readonly p: number,
  ) {
    this.heldTail = tables.upperTails(answered, p);
    this.lackedPmf = tables.pmfs(asked - answered, 1 - p);
  }

  /** ln P[D ≥ d]. */
  logAgreementTail(d: number): number {
    if (d <= 0) return 0;
    if (d > this.asked) return -Infinity;
    const known = this.memo.get(d);
    if (known !== undefined) return known;
    const term = (c: number) => this.lackedPmf[c] + this.heldTail[Math.max(0, d - c)];
    // The terms are log-concave in c (a binomial pmf times a binomial tail), hence unimodal: find the
    // peak by bisecting on the sign of the difference, then sum outwards until the terms fall 60
    // nats below it. What is left out is under n · e^-60 of the sum, far below rounding.
    let low = Math.max(0, d - this.answered);
    let high = this.lackedPmf.length - 1;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (term(mid + 1) > term(mid)) low = mid + 1;
      else high = mid;
    }
    const peak = term(low);
    let sum = 1;
    for (let c = low - 1, first = Math.max(0, d - this.answered); c >= first; c -= 1) {
      const t = term(c) - peak;
      if (t < -60) break;
      sum += Math.exp(t);
    }
    for (let c = low + 1; c < this.lackedPmf.length; c += 1) {
      const t = term(c) - peak;
      if (t < -60) break;
      sum += Math.exp(t);
    }
    const log = Math.min(0, peak + Math.log(sum)); // rounding must not push a probability above 1
    this.memo.set(d, log);
    return log;
  }

  /** ln P[a ≥ s]: the one-sided score of the answered keys held. */
  logAnsweredHeldTail(s: number): number {
    if (s <= 0) return 0;
    if (s > this.answered) return -Infinity;
    return this.heldTail[s];
  }

  /** ln P[D = n]: the smallest agreement tail any host can reach (its holdings match the answers exactly). */
  logBestAgreement(): number {
    return this.answered * Math.log(this.p) + (this.asked - this.answered) * Math.log1p(-this.p);
  }

  /** The least d with ln P[D ≥ d] ≤ logAlpha; n + 1 when even d = n is not that rare. A hint near the answer saves tail evaluations. */
  agreementThreshold(logAlpha: number, hint?: number): number {
    return leastBelow(0, this.asked + 1, (d) => this.logAgreementTail(d), logAlpha, hint);
  }

  /** The least s with ln P[a ≥ s] ≤ logAlpha; m + 1 when even s = m is not that rare. */
  answeredHeldThreshold(logAlpha: number): number {
    return leastBelow(0, this.answered + 1, (s) => this.logAnsweredHeldTail(s), logAlpha);
  }

  /** ln P[a ≥ s ∨ D ≥ d]: the exact chance that an innocent passes either threshold. */
  logEitherTail(s: number, d: number): number {
    const heldPmf = (this.heldPmf ??= tables.pmfs(this.answered, this.p));
    const lackedTail = (this.lackedTail ??= tables.upperTails(this.asked - this.answered, 1 - this.p));
    const terms = [this.logAnsweredHeldTail(s)];
    for (let a = 0; a < Math.min(s, this.answered + 1); a += 1) {
      const need = Math.max(0, d - a);
      terms.push(heldPmf[a] + (need < lackedTail.length ? lackedTail[need] : -Infinity));
    }
    return Math.min(0, logSum(terms));
  }
}

/**
 * The last few binomial tables built, by (n, p): planning asks for the same ones again and again
 * (s*(m) for nearby m, several merges at one n), and a table costs O(n) logarithms.
 */
class BinomialTables {
  private readonly cache = new Map<string, Float64Array>();

  constructor(private readonly capacity: number) {}

  upperTails(n: number, p: number): Float64Array {
    return this.get(`t${n}:${p}`, () => logUpperTails(n, p));
  }

  pmfs(n: number, p: number): Float64Array {
    return this.get(`f${n}:${p}`, () => logBinomialPmfs(n, p));
  }

  private get(key: string, build: () => Float64Array): Float64Array {
    let table = this.cache.get(key);
    if (table) {
      this.cache.delete(key); // most recently used goes last
    } else {
      table = build();
      if (this.cache.size >= this.capacity) this.cache.delete(this.cache.keys().next().value!);
    }
    this.cache.set(key, table);
    return table;
  }
}

const tables = new BinomialTables(64);

/** ln Σ exp(terms), scaled by the largest term so that tiny tails keep their digits. */
function logSum(terms: readonly number[]): number {
  let max = -Infinity;
  for (const term of terms) if (term > max) max = term;
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (const term of terms) sum += Math.exp(term - max);
  return max + Math.log(sum);
}

/**
 * The least k in [low, high] with tail(k) ≤ logAlpha, for a tail falling in k with tail(high) = −∞.
 * From a hint it gallops outwards (1, 2, 4, … steps) to a bracket, then bisects.
 */
function leastBelow(low: number, high: number, tail: (k: number) => number, logAlpha: number, hint?: number): number {
  if (tail(low) <= logAlpha) return low;
  if (hint !== undefined && hint > low && hint < high) {
    let step = 1;
    const probe = Math.round(hint);
    if (tail(probe) <= logAlpha) {
      high = probe;
      while (probe - step > low && tail(probe - step) <= logAlpha) {
        high = probe - step;
        step *= 2;
      }
      low = Math.max(low, probe - step);
    } else {
      low = probe;
      while (probe + step < high && tail(probe + step) > logAlpha) {
        low = probe + step;
        step *= 2;
      }
      high = Math.min(high, probe + step);
    }
  }
  while (high - low > 1) {
    const mid = (low + high) >>> 1;
    if (tail(mid) <= logAlpha) high = mid;
    else low = mid;
  }
  return high;
}

/**
 * The fewest answered keys m (of n asked) with which some host can be accused at a per-host level
 * logPerHost: its agreement can be at most n, P[D = n] = p^m (1 − p)^(n−m), and that is also below
 * the one-sided P[a = m] = p^m. For p > 1/2 the answer is 0 once n is large enough (a copy that
 * lacks every unanswered key is evidence too). n + 1 when no m will do.
 */
export function fewestAnsweredToAccuse(asked: number, p: number, logPerHost: number): number {
  const held = Math.log(p);
  const lacked = Math.log1p(-p);
  const best = (m: number) => m * held + (asked - m) * lacked;
  if (best(0) <= logPerHost) return 0;
  if (held >= lacked) return asked + 1;
  const m = Math.ceil((logPerHost - asked * lacked) / (held - lacked));
  return m <= asked && best(m) <= logPerHost ? m : asked + 1;
}
