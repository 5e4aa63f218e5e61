import { concat, encodeAbiParameters, keccak256, type Address, type Hex } from 'viem';

export interface AllocationEntry {
  account: Address;
  amount: bigint;
}

/**
 * RewardsVault's leaf, OpenZeppelin StandardMerkleTree's encoding for ["address", "uint256"]:
 * keccak256(keccak256(abi.encode(account, amount))). Hashing twice keeps a leaf from ever being
 * read as an inner node.
 */
export function allocationLeaf(account: Address, amount: bigint): Hex {
  return keccak256(keccak256(encodeAbiParameters([{ type: 'address' }, { type: 'uint256' }], [account, amount])));
}

// OpenZeppelin MerkleProof's node: the two children hashed in sorted order, so a proof carries no
// left/right flags.
const node = (a: Hex, b: Hex): Hex => keccak256(a.toLowerCase() < b.toLowerCase() ? concat([a, b]) : concat([b, a]));

/**
 * One epoch's allocation as RewardsVault.postAllocation takes it: `root`, `total`, and a proof per
 * account for RewardsVault.claim. Leaves are sorted by hash and an odd last node is carried up
 * unchanged; any such tree verifies with OpenZeppelin's MerkleProof.
 */
export class AllocationTree {
  readonly root: Hex;
  readonly total: bigint;
  private readonly levels: Hex[][];
  private readonly leafOf = new Map<string, Hex>();

  constructor(readonly entries: readonly AllocationEntry[]) {
    if (entries.length === 0) throw new Error('an allocation needs at least one account');
    for (const e of entries) {
      const key = e.account.toLowerCase();
      if (this.leafOf.has(key)) throw new Error(`account ${e.account} appears twice: sum its amounts into one entry (one claim per account per epoch)`);
      if (e.amount <= 0n) throw new Error(`account ${e.account} has amount ${e.amount}: leave it out instead`);
      this.leafOf.set(key, allocationLeaf(e.account, e.amount));
    }
    this.total = entries.reduce((s, e) => s + e.amount, 0n);
    let level = [...this.leafOf.values()].sort();
    this.levels = [level];
    while (level.length > 1) {
      const next: Hex[] = [];
      for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? node(level[i], level[i + 1]) : level[i]);
      this.levels.push((level = next));
    }
    this.root = level[0];
  }

  amountOf(account: Address): bigint {
    const entry = this.entries.find((e) => e.account.toLowerCase() === account.toLowerCase());
    if (!entry) throw new Error(`account ${account} has no allocation in this tree`);
    return entry.amount;
  }

  proof(account: Address): Hex[] {
    const leaf = this.leafOf.get(account.toLowerCase());
    if (!leaf) throw new Error(`account ${account} has no allocation in this tree`);
    const proof: Hex[] = [];
    let i = this.levels[0].indexOf(leaf);
    for (const level of this.levels.slice(0, -1)) {
      const sibling = i % 2 === 0 ? i + 1 : i - 1;
      if (sibling < level.length) proof.push(level[sibling]);
      i = Math.floor(i / 2);
    }
    return proof;
  }
}

/** What MerkleProof.verify computes on-chain, for checking a proof before sending it. */
export function verifyAllocationProof(root: Hex, account: Address, amount: bigint, proof: readonly Hex[]): boolean {
  return proof.reduce<Hex>((h, p) => node(h, p), allocationLeaf(account, amount)) === root;
}
