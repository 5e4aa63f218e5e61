import { assignSubset } from './assignment';
import { assignmentCommitment, assignmentLeaf, poolEntriesRoot, verifyAssignmentProof } from './commitment';

const seed = Buffer.alloc(32, 3);
const hostIds = ['host-c', 'host-a', 'host-e', 'host-b', 'host-d'];
const assignments = new Map(hostIds.map((hostId) => [hostId, Array.from(assignSubset(seed, hostId, 200, 0.6))]));

describe('assignmentCommitment', () => {
  const commitment = assignmentCommitment(assignments);

  it('publishes a 32-byte root over hosts in a fixed order', () => {
    expect(commitment.root).toMatch(/^0x[0-9a-f]{64}$/);
    expect(commitment.hostIds).toEqual(['host-a', 'host-b', 'host-c', 'host-d', 'host-e']);
    const reordered = assignmentCommitment(new Map([...assignments].reverse()));
    expect(reordered.root).toBe(commitment.root);
  });

  it("proves every host's subset against the root", () => {
    for (const hostId of hostIds) {
      expect(verifyAssignmentProof(commitment.root, assignments.get(hostId)!, commitment.proof(hostId))).toBe(true);
    }
  });

  it('rejects a tampered proof, subset, host or root', () => {
    const proof = commitment.proof('host-c');
    const indices = assignments.get('host-c')!;
    const flipped = proof.siblings[0].slice(0, -1) + (proof.siblings[0].endsWith('0') ? '1' : '0');
    expect(verifyAssignmentProof(commitment.root, indices, { ...proof, siblings: [flipped, ...proof.siblings.slice(1)] })).toBe(false);
    expect(verifyAssignmentProof(commitment.root, indices.slice(1), proof)).toBe(false);
    const missing = Array.from({ length: 200 }, (_, i) => i).find((i) => !indices.includes(i))!;
    const added = [...indices, missing].sort((a, b) => a - b);
    expect(verifyAssignmentProof(commitment.root, added, proof)).toBe(false);
    expect(verifyAssignmentProof(commitment.root, indices, { ...proof, hostId: 'host-a' })).toBe(false);
    expect(verifyAssignmentProof(commitment.root, indices, { ...proof, leafIndex: 3 })).toBe(false);
    expect(verifyAssignmentProof(commitment.root, indices, { ...proof, siblings: proof.siblings.slice(1) })).toBe(false);
    expect(verifyAssignmentProof(`0x${'00'.repeat(32)}`, indices, proof)).toBe(false);
    expect(verifyAssignmentProof(commitment.root, assignments.get('host-a')!, proof)).toBe(false);
  });

  it("makes a single host's leaf the root, and refuses an unknown host", () => {
    const single = assignmentCommitment([['only', [1, 2, 3]]]);
    expect(single.root).toBe(`0x${assignmentLeaf('only', [1, 2, 3]).toString('hex')}`);
    expect(verifyAssignmentProof(single.root, [1, 2, 3], single.proof('only'))).toBe(true);
    expect(() => commitment.proof('host-z')).toThrow('not in this assignment commitment');
    expect(() =>
      assignmentCommitment([
        ['x', [1]],
        ['x', [2]],
      ]),
    ).toThrow('appears twice');
    expect(() => assignmentCommitment([['x', [2, 1]]])).toThrow('strictly increasing');
  });
});

describe('poolEntriesRoot', () => {
  it('changes with any entry and with their order', () => {
    const pool = [
      { key: 'a b c', response: ' x' },
      { key: 'd e', response: ' y' },
      { key: 'f', response: ' z' },
    ];
    const root = poolEntriesRoot(pool);
    expect(root).toMatch(/^0x[0-9a-f]{64}$/);
    expect(poolEntriesRoot([...pool])).toBe(root);
    expect(poolEntriesRoot([pool[1], pool[0], pool[2]])).not.toBe(root);
    expect(poolEntriesRoot([pool[0], pool[1], { key: 'f', response: ' w' }])).not.toBe(root);
    // Length prefixes keep "ab"+"c" apart from "a"+"bc".
    expect(poolEntriesRoot([{ key: 'ab', response: 'c' }])).not.toBe(poolEntriesRoot([{ key: 'a', response: 'bc' }]));
  });
});
