import { createHash } from 'node:crypto';
import { MerkleTree, verifyMerkleProof } from './index';

const leaf = (i: number) => createHash('sha256').update(`leaf ${i}`).digest();

describe('MerkleTree', () => {
  it.each([1, 2, 3, 5, 8, 13])('proves every leaf of %i and nothing else', (n) => {
    const leaves = Array.from({ length: n }, (_, i) => leaf(i));
    const tree = new MerkleTree(leaves);
    for (let i = 0; i < n; i += 1) {
      const proof = tree.proof(i);
      expect(verifyMerkleProof(tree.root, leaves[i], proof)).toBe(true);
      expect(verifyMerkleProof(tree.root, leaf(99), proof)).toBe(false);
      if (n > 1) expect(verifyMerkleProof(tree.root, leaves[i], { ...proof, leafIndex: (i + 1) % n })).toBe(false);
    }
  });

  it('carries an odd node up instead of pairing it with itself', () => {
    const three = new MerkleTree([leaf(0), leaf(1), leaf(2)]);
    const four = new MerkleTree([leaf(0), leaf(1), leaf(2), leaf(2)]);
    expect(three.root).not.toBe(four.root);
  });

  it('rejects malformed proofs without throwing', () => {
    const tree = new MerkleTree([leaf(0), leaf(1)]);
    expect(verifyMerkleProof('nope', leaf(0), tree.proof(0))).toBe(false);
    expect(verifyMerkleProof(tree.root, leaf(0), { leafIndex: 0, leafCount: 2, siblings: ['0x12'] })).toBe(false);
    expect(verifyMerkleProof(tree.root, leaf(0), { leafIndex: 0, leafCount: 2, siblings: [] })).toBe(false);
  });
});
