/**
 * Exact binomial tails in log space. Accusations are decided at rates like 1e-6 / 64 and the
 * tails of interest go far below that, so sums are kept as logarithms (log-sum-exp) instead of
 * normal-approximation z-scores, which are badly wrong that far out.
 */

// Lanczos approximation (g = 7, n = 9): relative error ~1e-15 for x > 0, ample for tails.
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012,
  9.9843695780195716e-6, 1.5056327351493116e-7,
];

function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let sum = LANCZOS[0];
  for (let i = 1; i < LANCZOS.length; i += 1) sum += LANCZOS[i] / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

// ln k! for k below this comes from a table filled on demand (each entry from logGamma, so no
// rounding accumulates); planning and tracing evaluate many pmfs of the same few hundred keys.
const TABLE_LIMIT = 1 << 20;
let logFactorials = new Float64Array(0);

function logFactorial(k: number): number {
  if (k >= TABLE_LIMIT) return logGamma(k + 1);
  if (k >= logFactorials.length) {
    const grown = new Float64Array(Math.min(TABLE_LIMIT, Math.max(1024, 2 * logFactorials.length, k + 1)));
    grown.set(logFactorials);
    for (let i = logFactorials.length; i < grown.length; i += 1) grown[i] = i < 2 ? 0 : logGamma(i + 1);
    logFactorials = grown;
  }
  return logFactorials[k];
}

function logChoose(n: number, k: number): number {
  return logFactorial(n) - logFactorial(k) - logFactorial(n - k);
}

/** ln P[Bin(n, p) = k]. */
export function logBinomialPmf(n: number, p: number, k: number): number {
  if (k < 0 || k > n) return -Infinity;
  if (p <= 0) return k === 0 ? 0 : -Infinity;
  if (p >= 1) return k === n ? 0 : -Infinity;
  return logChoose(n, k) + k * Math.log(p) + (n - k) * Math.log1p(-p);
}

export function logAdd(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  const hi = Math.max(a, b);
  return hi + Math.log1p(Math.exp(Math.min(a, b) - hi));
}

/** ln P[Bin(n, p) = k] for every k = 0..n. */
export function logBinomialPmfs(n: number, p: number): Float64Array {
  const pmf = new Float64Array(n + 1);
  if (p <= 0 || p >= 1) {
    for (let k = 0; k <= n; k += 1) pmf[k] = logBinomialPmf(n, p, k);
    return pmf;
  }
  // The same terms as logBinomialPmf, with the logarithms of p and 1 − p taken once.
  const held = Math.log(p);
  const lacked = Math.log1p(-p);
  const top = logFactorial(n);
  for (let k = 0; k <= n; k += 1) pmf[k] = top - logFactorial(k) - logFactorial(n - k) + k * held + (n - k) * lacked;
  return pmf;
}

/**
 * ln P[Bin(n, p) >= k] for every k = 0..n+1 at once (entry n+1 is ln 0), built from the top so
 * the tiny tails are summed before the large terms. One table serves every host of a trace.
 */
export function logUpperTails(n: number, p: number): Float64Array {
  const tails = new Float64Array(n + 2);
  const pmf = logBinomialPmfs(n, p);
  tails[n + 1] = -Infinity;
  for (let k = n; k >= 0; k -= 1) tails[k] = logAdd(tails[k + 1], pmf[k]);
  // P[Bin >= 0] is exactly 1; elsewhere rounding must not push a tail above it.
  for (let k = 0; k <= n; k += 1) tails[k] = Math.min(tails[k], 0);
  tails[0] = 0;
  return tails;
}

/** P[Bin(n, p) >= k]. */
export function binomialUpperTail(n: number, p: number, k: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  let log = -Infinity;
  for (let j = n; j >= k; j -= 1) log = logAdd(log, logBinomialPmf(n, p, j));
  return Math.min(1, Math.exp(log));
}

/** P[Bin(n, p) < k]. */
export function binomialLowerTail(n: number, p: number, k: number): number {
  if (k <= 0) return 0;
  if (k > n) return 1;
  let log = -Infinity;
  for (let j = 0; j < k; j += 1) log = logAdd(log, logBinomialPmf(n, p, j));
  return Math.min(1, Math.exp(log));
}

/** The smallest z with P[Bin(n, p) > z] <= alpha: a count that Bin(n, p) exceeds only rarely. */
export function binomialUpperQuantile(n: number, p: number, alpha: number): number {
  let above = 1; // P[Bin > z - 1] = P[Bin >= z], starting at z = 0
  for (let z = 0; z <= n; z += 1) {
    above -= Math.exp(logBinomialPmf(n, p, z)); // now P[Bin > z]
    if (above <= alpha) return z;
  }
  return n;
}

/**
 * ln P[Bin(n, p) ≥ k], summing only the terms within e^-40 of the largest one in the sum (the pmf
 * falls geometrically away from its mode): O(√n) instead of O(n), for planning's many tails. Below
 * the mode it is 1 − P[Bin < k], summed the same way from k − 1 downwards.
 */
export function logUpperTailNear(n: number, p: number, k: number): number {
  if (k <= 0) return 0;
  if (k > n) return -Infinity;
  const mode = Math.min(n, Math.floor((n + 1) * p));
  const outwards = (from: number, step: number) => {
    const first = logBinomialPmf(n, p, from);
    let sum = 1;
    for (let j = from + step; j >= 0 && j <= n; j += step) {
      const t = logBinomialPmf(n, p, j) - first;
      if (t < -40) break;
      sum += Math.exp(t);
    }
    return first + Math.log(sum);
  };
  if (k > mode) return Math.min(0, outwards(k, 1));
  return Math.log1p(-Math.min(1, Math.exp(outwards(k - 1, -1))));
}
