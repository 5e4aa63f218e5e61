/**
 * npm run bench:access — permission checks per second on one core: for grants seen for the first
 * time (issuer signature, then the user's) and for a known grant (only the user's per-request
 * signature). Requests are signed beforehand, so only the host's side is timed.
 * Metrics: checks_per_s_new (goal ≥ 5k), checks_per_s_known (goal ≥ 10k), and merkle_1m_seconds
 * (goal ≤ 2 s): an epoch's root and 1,000 inclusion proofs over 1M receipts.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { PermissionVerifier, generateUserKey, issueGrant, permissionString, userPublicKeyBytes } from '@clopen/host-sdk';
import { MerkleTree, verifyMerkleProof } from '@clopen/merkle';

const N = Number(process.env.BENCH_CHECKS ?? 20_000);
const HOST = '0x1737C8D529A6692bDFA1baaFA3106C1028F29ACc';
const MODEL = 'model-1';
const body = '{"prompt":"The quick brown fox","max_tokens":16}';
const emit = (metric: string, value: number, unit: string) => console.log(JSON.stringify({ bench: 'access', metric, value: Math.round(value * 1000) / 1000, unit }));

const issuer = generateKeyPairSync('ed25519');
const now = Math.floor(Date.now() / 1000);
const grant = (id: string, user = generateUserKey()) => ({ user, signed: issueGrant(issuer.privateKey, { id, modelId: MODEL, userPublicKey: userPublicKeyBytes(user), notBefore: now - 60, expiresAt: now + 3600, issuerKeyId: 'i1' }) });
const verifier = () => new PermissionVerifier({ host: HOST, issuerKeys: new Map([['i1', issuer.publicKey]]) });

function rate(headers: string[], v: PermissionVerifier): number {
  const t = process.hrtime.bigint();
  for (const h of headers) v.verify(h, { model: MODEL, body });
  return headers.length / (Number(process.hrtime.bigint() - t) / 1e9);
}

// New grants: every request carries a grant this host has not seen.
const fresh = Array.from({ length: N }, (_, i) => {
  const g = grant(`g${i}`);
  return permissionString(g.signed, g.user, 1, { host: HOST, model: MODEL, body });
});
// A known grant: one grant, increasing counters.
const one = grant('known');
const known = Array.from({ length: N }, (_, i) => permissionString(one.signed, one.user, i + 1, { host: HOST, model: MODEL, body }));

rate(fresh.slice(0, 1000), verifier()); // warm-up
const v = verifier();
v.verify(known[0], { model: MODEL, body });
emit('checks_per_s_new', rate(fresh, verifier()), 'checks/s');
emit('checks_per_s_known', rate(known.slice(1), v), 'checks/s');

// An epoch of 1M receipts: leaves hashed beforehand (ingest stores them), then the root and proofs.
const leaves = Array.from({ length: Number(process.env.BENCH_RECEIPTS ?? 1_000_000) }, (_, i) => createHash('sha256').update(`receipt ${i}`).digest());
const t = process.hrtime.bigint();
const tree = new MerkleTree(leaves);
const proofs = Array.from({ length: 1000 }, (_, i) => tree.proof((i * 997) % leaves.length));
const seconds = Number(process.hrtime.bigint() - t) / 1e9;
if (!proofs.every((p) => verifyMerkleProof(tree.root, leaves[p.leafIndex], p))) throw new Error('a proof does not verify');
emit('merkle_1m_seconds', seconds, 's');
