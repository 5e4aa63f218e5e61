import type { PoolMembership } from './assignment';
import { TracingInputError, requireCount, requireProbability } from './errors';
import type { SeededRandom } from './seeded-random';

/**
 * How a coalition of k hosts turns its k copies into one suspect model.
 *
 * Every member "would answer" a key its copy holds with probability r (its recall after whatever
 * attacks it ran), independently per member and key, and never a key it does not hold. The merged
 * model answers a key:
 *  - 'and':      iff every member would answer it (an ensemble that speaks only when all agree);
 *  - 'majority': iff more than half of the members would answer it (a voting ensemble); for k = 2
 *                "more than half" is both, so majority is 'and' there, and for k = 1 the copy itself;
 *  - 'random':   iff the member picked uniformly for that query would answer it (a router);
 *  - 'soup':     (weights averaged into one model) with probability soupAnswer[j] when exactly j of
 *                the k copies hold the key. Measured values come from averaging real copies (the
 *                fingerprint bench); until then the default is the majority vote's, P[Bin(j, r) > k/2].
 * On top of any merge, a key answered by none of that is still answered with probability p0 (the
 * null rate: the merged model hits the secret response by chance).
 */
export type Merge = 'and' | 'majority' | 'random' | 'soup';

export const MERGES: readonly Merge[] = ['and', 'majority', 'random', 'soup'];

export type MergeChannelInput = {
  merge: Merge;
  /** k: coalition members. */
  coalition: number;
  /** Inclusion probability of each fingerprint in each copy. */
  p: number;
  /** r */
  recall: number;
  /** p0 */
  nullRate: number;
  /** For 'soup': P[answer | exactly j of k copies hold the key], j = 0..k. Default: the majority vote's. */
  soupAnswer?: readonly number[];
};

/** Per asked key, what one member of the coalition sees (all members alike, by symmetry). */
export type MergeChannel = {
  /** P[the merged model answers the key], null answers included. */
  answered: number;
  /** π₊ = P[answered and this member's copy holds the key]. */
  answeredHeld: number;
  /** π₋ = P[not answered and this member's copy holds the key] (= p − π₊). */
  unansweredHeld: number;
  /** P[answered by the merge itself], before null answers. */
  genuine: number;
};

export function requireMerge(merge: string): asserts merge is Merge {
  if (!MERGES.includes(merge as Merge)) throw new TracingInputError(`merge must be one of ${MERGES.join(', ')}, got ${merge}`);
}

/** The majority vote's soup: P[more than k/2 of the j holders would answer]. */
export function majoritySoupAnswer(coalition: number, recall: number): number[] {
  return Array.from({ length: coalition + 1 }, (_, j) => binomialAtLeast(j, recall, Math.floor(coalition / 2) + 1));
}

function requireSoupAnswer(coalition: number, soupAnswer: readonly number[]): void {
  if (soupAnswer.length !== coalition + 1) {
    throw new TracingInputError(
      `soupAnswer for a coalition of ${coalition} needs ${coalition + 1} entries (j = 0..${coalition} copies holding the key), got ${soupAnswer.length}`,
    );
  }
  soupAnswer.forEach((value, j) => requireProbability(`soupAnswer[${j}]`, value));
}

export function mergeChannel(input: MergeChannelInput): MergeChannel {
  const { merge, coalition: k, p, recall: r, nullRate } = input;
  requireMerge(merge);
  requireCount('coalition', k, 1);
  requireProbability('p', p);
  requireProbability('recall', r);
  requireProbability('nullRate', nullRate);
  const w = r * p; // a given other member would answer the key
  const majority = Math.floor(k / 2) + 1;
  // g1 = P[merge answers ∧ this member holds], g0 = P[merge answers ∧ this member lacks].
  let g1: number;
  let g0: number;
  switch (merge) {
    case 'and':
      g1 = w * w ** (k - 1);
      g0 = 0;
      break;
    case 'majority':
      g1 = p * (r * binomialAtLeast(k - 1, w, majority - 1) + (1 - r) * binomialAtLeast(k - 1, w, majority));
      g0 = (1 - p) * binomialAtLeast(k - 1, w, majority);
      break;
    case 'random':
      g1 = p * (r / k + ((k - 1) / k) * w);
      g0 = (1 - p) * ((k - 1) / k) * w;
      break;
    case 'soup': {
      const soup = input.soupAnswer ?? majoritySoupAnswer(k, r);
      requireSoupAnswer(k, soup);
      g1 = 0;
      g0 = 0;
      for (let others = 0; others < k; others += 1) {
        const chance = binomialPmf(k - 1, p, others);
        g1 += p * chance * soup[others + 1];
        g0 += (1 - p) * chance * soup[others];
      }
      break;
    }
  }
  const answeredHeld = g1 + (p - g1) * nullRate;
  const answeredLacked = g0 + (1 - p - g0) * nullRate;
  return { answered: answeredHeld + answeredLacked, answeredHeld, unansweredHeld: p - answeredHeld, genuine: g1 + g0 };
}

export type SimulateMergeInput = {
  /** The coalition's copies. */
  members: readonly PoolMembership[];
  /** Pool indices asked. */
  asked: readonly number[];
  merge: Merge;
  recall: number;
  nullRate: number;
  random: SeededRandom;
  /** For 'soup', as in mergeChannel; its length is members.length + 1. */
  soupAnswer?: readonly number[];
};

/** Which asked keys a merged model answers: a draw from exactly the model mergeChannel describes. */
export function simulateMerge(input: SimulateMergeInput): boolean[] {
  const { members, asked, merge, recall, nullRate, random } = input;
  const k = members.length;
  requireMerge(merge);
  requireCount('members', k, 1);
  requireProbability('recall', recall);
  requireProbability('nullRate', nullRate);
  const soup = merge === 'soup' ? (input.soupAnswer ?? majoritySoupAnswer(k, recall)) : [];
  if (merge === 'soup') requireSoupAnswer(k, soup);
  const wouldAnswer = (member: PoolMembership, key: number) => member.has(key) && random.next() < recall;
  return asked.map((key) => {
    let genuine: boolean;
    if (merge === 'and') genuine = members.every((member) => wouldAnswer(member, key));
    else if (merge === 'majority') genuine = members.filter((member) => wouldAnswer(member, key)).length * 2 > k;
    else if (merge === 'random') genuine = wouldAnswer(members[random.below(k)], key);
    else genuine = random.next() < soup[members.filter((member) => member.has(key)).length];
    return genuine || random.next() < nullRate;
  });
}

function binomialPmf(n: number, p: number, k: number): number {
  let choose = 1;
  for (let i = 1; i <= k; i += 1) choose = (choose * (n - k + i)) / i;
  return choose * p ** k * (1 - p) ** (n - k);
}

/** P[Bin(n, p) ≥ k] for the small n of a coalition. */
function binomialAtLeast(n: number, p: number, k: number): number {
  let sum = 0;
  for (let j = Math.max(0, k); j <= n; j += 1) sum += binomialPmf(n, p, j);
  return sum;
}
