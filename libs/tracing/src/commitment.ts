import { createHash } from 'node:crypto';
import { MerkleTree, verifyMerkleProof } from '@clopen/merkle';
import { TracingInputError } from './errors';
import { requireSortedIndices } from './assignment';

/**
 * A Merkle commitment to every host's assignment, so the platform can publish one 32-byte root
 * (UsageLedger's fingerprint commitments) when copies are delivered, and later prove that the
 * subset it accuses a host with is the one it committed to, without revealing anyone else's.
 *
 * Encoding (version 1; every hash is SHA-256, every hex string is 0x-prefixed lowercase):
 *   listDigest(indices) = sha256(uint32be(i_1) || uint32be(i_2) || …)        indices sorted ascending
 *   leaf(hostId, list)  = sha256(0x00 || uint32be(byteLength(hostId)) || utf8(hostId) || listDigest)
 *   node(left, right)   = sha256(0x01 || left || right)
 * The 0x00 / 0x01 prefixes keep a leaf from ever being read as an inner node (second preimages).
 * Leaf order is fixed: hosts sorted by the UTF-8 bytes of their id; ids must be distinct. Each
 * level pairs neighbours left to right; an odd last node is carried up unchanged (never paired
 * with itself, which would let two different leaf sets share a root). A single leaf is the root.
 * A proof is the leaf's position, the leaf count and the siblings from the leaf upward; the
 * verifier replays the same pairing, so a proof binds the host's position as well as its subset.
 *
 * Hiding: the root and other hosts' proofs reveal a host's subset only through listDigest, whose
 * pre-image is a Bernoulli(p) subset of the pool: about P·log2(1/max(p, 1-p)) bits of min-entropy
 * (over 100 bits for pools of a few hundred), far beyond guessing.
 */

export type AssignmentProof = {
  hostId: string;
  /** Position of the host's leaf in the fixed leaf order. */
  leafIndex: number;
  leafCount: number;
  /** Sibling hashes from the leaf level upward (levels where the node was carried have none). */
  siblings: string[];
};

export type AssignmentCommitment = {
  /** The Merkle root, 0x-prefixed hex of 32 bytes. */
  root: string;
  /** Host ids in leaf order. */
  hostIds: string[];
  /** The inclusion proof of one host's leaf; throws for a host that is not committed. */
  proof(hostId: string): AssignmentProof;
};

/** sha256 of a host's sorted pool indices, each as a big-endian uint32. */
export function indexListDigest(indices: ArrayLike<number>): Buffer {
  requireSortedIndices('indices', indices);
  const bytes = Buffer.alloc(indices.length * 4);
  for (let i = 0; i < indices.length; i += 1) bytes.writeUInt32BE(indices[i], i * 4);
  return createHash('sha256').update(bytes).digest();
}

/** The Merkle leaf of one host: its id bound to the digest of its index list. */
export function assignmentLeaf(hostId: string, indices: ArrayLike<number>): Buffer {
  if (typeof hostId !== 'string' || hostId.length === 0) throw new TracingInputError('hostId must be a non-empty string');
  return createHash('sha256').update(Buffer.of(0x00)).update(lengthPrefixed(hostId)).update(indexListDigest(indices)).digest();
}

function compareIds(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function lengthPrefixed(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length, 0);
  return Buffer.concat([length, bytes]);
}

/**
 * Commits to a fingerprint pool without revealing it: the Merkle root over
 * sha256(0x02 ‖ len ‖ key ‖ len ‖ response) in pool order. Publishing it lets a later proof show that
 * a key and its response were in the pool from the start.
 */
export function poolEntriesRoot(entries: readonly { key: string; response: string }[]): string {
  if (entries.length === 0) throw new TracingInputError('a pool commitment needs at least one entry');
  const leaves = entries.map((e) => createHash('sha256').update(Buffer.of(0x02)).update(lengthPrefixed(e.key)).update(lengthPrefixed(e.response)).digest());
  return new MerkleTree(leaves).root;
}

/** Commits to every host's assignment (hostId → sorted pool indices). */
export function assignmentCommitment(
  assignments: ReadonlyMap<string, ArrayLike<number>> | Iterable<readonly [string, ArrayLike<number>]>,
): AssignmentCommitment {
  const entries = Array.from(assignments as Iterable<readonly [string, ArrayLike<number>]>);
  if (entries.length === 0) throw new TracingInputError('an assignment commitment needs at least one host');
  entries.sort(([a], [b]) => compareIds(a, b));
  for (let i = 1; i < entries.length; i += 1) {
    if (entries[i][0] === entries[i - 1][0]) throw new TracingInputError(`host ${entries[i][0]} appears twice in the assignments`);
  }
  const hostIds = entries.map(([hostId]) => hostId);
  const tree = new MerkleTree(entries.map(([hostId, indices]) => assignmentLeaf(hostId, indices)));
  const positions = new Map(hostIds.map((hostId, index) => [hostId, index]));

  return {
    root: tree.root,
    hostIds,
    proof(hostId: string): AssignmentProof {
      const leafIndex = positions.get(hostId);
      if (leafIndex === undefined) throw new TracingInputError(`host ${hostId} is not in this assignment commitment`);
      return { hostId, ...tree.proof(leafIndex) };
    },
  };
}

/**
 * True when `indices` is exactly the subset committed for `proof.hostId` under `root`. Returns
 * false (never throws) for any mismatch, malformed proof included, so callers can treat the
 * answer as the verdict.
 */
export function verifyAssignmentProof(root: string, indices: ArrayLike<number>, proof: AssignmentProof): boolean {
  try {
    return verifyMerkleProof(root, assignmentLeaf(proof.hostId, indices), proof);
  } catch (error) {
    if (error instanceof TracingInputError) return false;
    throw error;
  }
}
