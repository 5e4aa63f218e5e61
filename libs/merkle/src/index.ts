import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';

/** libsodium's SHA-256 writes into a caller's buffer: no allocation per node, half node:crypto's time here. */
const sodium = createRequire(__filename)('sodium-native') as { crypto_hash_sha256(out: Uint8Array, input: Uint8Array): void };

export type MerkleProof = {
  /** Position of the leaf in the fixed leaf order. */
  leafIndex: number;
  leafCount: number;
  /** Sibling hashes from the leaf level upward, 0x-prefixed hex (levels where the node was carried have none). */
  siblings: string[];
};

const hex = (bytes: Buffer) => `0x${bytes.toString('hex')}`;

export function merkleNode(left: Buffer, right: Buffer): Buffer {
  return createHash('sha256').update(Buffer.of(0x01)).update(left).update(right).digest();
}

/**
 * A tree over 32-byte leaves in the given order. Each level is one buffer of 32-byte nodes, so a
 * tree of 1M receipts is two allocations a level instead of a million (bench:access, merkle_1m_seconds).
 */
export class MerkleTree {
  /** levels[0] holds the leaves; the last level holds the root. */
  private readonly levels: Buffer[] = [];

  constructor(leaves: readonly Uint8Array[]) {
    if (leaves.length === 0) throw new Error('a Merkle tree needs at least one leaf');
    const first = Buffer.allocUnsafe(leaves.length * 32);
    leaves.forEach((leaf, i) => {
      if (leaf.length !== 32) throw new Error(`leaf ${i} is ${leaf.length} bytes; leaves are 32-byte hashes`);
      first.set(leaf, i * 32);
    });
    this.levels.push(first);
    const scratch = Buffer.alloc(65);
    scratch[0] = 0x01;
    let below = first;
    while (below.length > 32) {
      const count = below.length / 32;
      const above = Buffer.allocUnsafe(Math.ceil(count / 2) * 32);
      for (let i = 0; i < count; i += 2) {
        if (i + 1 < count) {
          below.copy(scratch, 1, i * 32, i * 32 + 64);
          sodium.crypto_hash_sha256(above.subarray((i / 2) * 32, (i / 2) * 32 + 32), scratch);
        } else {
          below.copy(above, (i / 2) * 32, i * 32, i * 32 + 32);
        }
      }
      this.levels.push(above);
      below = above;
    }
  }

  get root(): string {
    return hex(this.levels[this.levels.length - 1]);
  }

  get leafCount(): number {
    return this.levels[0].length / 32;
  }

  proof(leafIndex: number): MerkleProof {
    if (!Number.isInteger(leafIndex) || leafIndex < 0 || leafIndex >= this.leafCount)
      throw new Error(`leaf ${leafIndex} is not in a tree of ${this.leafCount}`);
    const siblings: string[] = [];
    let index = leafIndex;
    for (let level = 0; level < this.levels.length - 1; level += 1) {
      const nodes = this.levels[level];
      const sibling = index % 2 === 1 ? index - 1 : index + 1;
      if (sibling * 32 < nodes.length) siblings.push(hex(nodes.subarray(sibling * 32, sibling * 32 + 32)));
      index >>= 1;
    }
    return { leafIndex, leafCount: this.leafCount, siblings };
  }
}

function fromHex(value: string): Buffer | undefined {
  return typeof value === 'string' && /^0x[0-9a-fA-F]{64}$/.test(value) ? Buffer.from(value.slice(2), 'hex') : undefined;
}

/** True when `leaf` sits at `proof.leafIndex` under `root`; false (never a throw) for anything malformed. */
export function verifyMerkleProof(root: string, leaf: Buffer, proof: MerkleProof): boolean {
  const expected = fromHex(root);
  if (!expected || leaf.length !== 32 || !Number.isInteger(proof.leafCount) || proof.leafCount < 1) return false;
  if (!Number.isInteger(proof.leafIndex) || proof.leafIndex < 0 || proof.leafIndex >= proof.leafCount || !Array.isArray(proof.siblings)) return false;
  let hash = leaf;
  let index = proof.leafIndex;
  let width = proof.leafCount;
  let used = 0;
  while (width > 1) {
    if (index % 2 === 1 || index + 1 < width) {
      const sibling = fromHex(proof.siblings[used++]);
      if (!sibling) return false;
      hash = index % 2 === 1 ? merkleNode(sibling, hash) : merkleNode(hash, sibling);
    }
    index >>= 1;
    width = Math.ceil(width / 2);
  }
  return used === proof.siblings.length && hash.equals(expected);
}
