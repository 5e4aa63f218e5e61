import { createHmac } from 'node:crypto';
import { TracingInputError, requireCount, requireProbability } from './errors';

/**
 * Which fingerprints of a model version's pool go into one host's copy.
 *
 * The code is a random-inclusion (Bernoulli) code: fingerprint i is in host h's copy with
 * probability p, independently for every (h, i). The coin for (h, i) is a 32-bit word of
 * HMAC-SHA256 keyed by the pool's secret seed, so an assignment is
 *  - reproducible: the platform recomputes any host's subset from (seed, hostId) and stores nothing;
 *  - unpredictable to hosts: without the seed, one host's subset says nothing about another's, which
 *    is exactly the independence the tracing test relies on (an innocent host's copy is a fresh
 *    Bernoulli(p) draw, unrelated to whatever a coalition answered);
 *  - open-ended: a host licensed later gets its subset from the same seed, and nobody else's changes.
 *
 * Derivation (version 1, fixed so that old assignments can be recomputed):
 *   hostKey  = HMAC-SHA256(seed, "clopen/tracing/assignment/v1" || 0x00 || utf8(hostId))
 *   block_j  = HMAC-SHA256(hostKey, uint32be(j))            (32 bytes = 8 big-endian uint32 words)
 *   u_i      = word (i mod 8) of block_(floor(i / 8))
 *   i is in the subset  iff  u_i < floor(p * 2^32)          (inclusion probability within 2^-32 of p)
 */

const DOMAIN = Buffer.from('clopen/tracing/assignment/v1\0', 'utf8');
const WORDS_PER_BLOCK = 8;
/** Below this a seed could be guessed, and every assignment with it. */
export const MIN_SEED_BYTES = 16;

/** The sorted pool indices of the fingerprints embedded in host `hostId`'s copy. */
export function assignSubset(seed: Buffer, hostId: string, poolSize: number, p: number): Uint32Array {
  if (!Buffer.isBuffer(seed) || seed.length < MIN_SEED_BYTES) {
    throw new TracingInputError(`assignment seed must be a secret Buffer of at least ${MIN_SEED_BYTES} bytes`);
  }
  if (typeof hostId !== 'string' || hostId.length === 0) throw new TracingInputError('hostId must be a non-empty string');
  requireCount('poolSize', poolSize, 0);
  if (poolSize > 0xffffffff) throw new TracingInputError(`poolSize must fit in 32 bits, got ${poolSize}`);
  requireProbability('p', p);

  const threshold = Math.floor(p * 2 ** 32);
  const hostKey = createHmac('sha256', seed).update(DOMAIN).update(hostId, 'utf8').digest();
  const counter = Buffer.alloc(4);
  const picked = new Uint32Array(poolSize);
  let count = 0;
  for (let block = 0; block * WORDS_PER_BLOCK < poolSize; block += 1) {
    counter.writeUInt32BE(block, 0);
    const words = createHmac('sha256', hostKey).update(counter).digest();
    const first = block * WORDS_PER_BLOCK;
    const last = Math.min(poolSize, first + WORDS_PER_BLOCK);
    for (let index = first; index < last; index += 1) {
      if (words.readUInt32BE((index - first) * 4) < threshold) picked[count++] = index;
    }
  }
  return picked.slice(0, count);
}

/** Anything that answers "does this copy hold pool fingerprint i?"; a Set<number> is one. */
export type PoolMembership = { has(index: number): boolean };

/** A host's assignment as the tracer accepts it: a membership test, or its sorted pool indices. */
export type HostAssignment = PoolMembership | ArrayLike<number>;

/** A host's assignment as one bit per pool fingerprint: compact and fast for large simulations. */
export class PoolBitset implements PoolMembership {
  private readonly bits: Uint8Array;

  constructor(readonly poolSize: number) {
    requireCount('poolSize', poolSize, 0);
    this.bits = new Uint8Array(Math.ceil(poolSize / 8));
  }

  static fromIndices(poolSize: number, indices: ArrayLike<number>): PoolBitset {
    const bitset = new PoolBitset(poolSize);
    for (let i = 0; i < indices.length; i += 1) bitset.add(indices[i]);
    return bitset;
  }

  add(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.poolSize) {
      throw new TracingInputError(`pool index ${index} is outside the pool of ${this.poolSize} fingerprints`);
    }
    this.bits[index >> 3] |= 1 << (index & 7);
  }

  has(index: number): boolean {
    return index >= 0 && index < this.poolSize && (this.bits[index >> 3] & (1 << (index & 7))) !== 0;
  }

  /** Empties the set so one allocation can serve many simulated trials. */
  clear(): void {
    this.bits.fill(0);
  }
}

/** Checks that a list of pool indices is sorted, distinct, non-negative integers. */
export function requireSortedIndices(name: string, indices: ArrayLike<number>): void {
  let previous = -1;
  for (let i = 0; i < indices.length; i += 1) {
    const index = indices[i];
    if (!Number.isInteger(index) || index <= previous || index > 0xffffffff) {
      throw new TracingInputError(`${name} must be strictly increasing pool indices (integers in [0, 2^32)); entry ${i} is ${index} after ${previous}`);
    }
    previous = index;
  }
}

export function toMembership(hostId: string, assignment: HostAssignment): PoolMembership {
  if (typeof (assignment as PoolMembership).has === 'function') return assignment as PoolMembership;
  const indices = assignment as ArrayLike<number>;
  requireSortedIndices(`assignment of host ${hostId}`, indices);
  return new Set(Array.from(indices));
}
