// The OML part of the seed's story, through the services: Alice has distribution generate her
// version's fingerprint pool; Bob and Charlie are licensed and the embedder worker makes each his
// own copy; each host fetches its copy with a signed request; Charlie's copy turns up on Eve's
// unlicensed host (the prover who catches her comes in the access part, story-access.mjs).
// Host keys and the last trace are kept in .local/story so a second run continues the story.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);

export async function omlStory({ root, info, call, admin, distribution, baseVersion, children }) {
  const { enginePythonPath, ENGINE_PYTHON_DIR } = require('@clopen/fingerprint');
  const { signHostRequest, HOST_AUTH_HEADER } = require('@clopen/host-auth');
  const dir = join(root, '.local/story');
  const { hosts, keys } = hostAccounts(root);
  const name = (n) => n[0].toUpperCase() + n.slice(1);
  const issue = async (principalId, roles) => (await call(distribution, admin, 'POST', '/api-keys', { principalId, roles, label: 'npm start' })).body.key;
  const aliceKey = await issue('alice', ['owner']);

  // The pool: sized so a leak by any one of up to 8 hosts is traced with P[false accusation] ≤ 1e-6.
  let pool = await call(distribution, aliceKey, 'POST', `/versions/${baseVersion.id}/pool`, { hosts: 8, coalition: 1, keyStrategy: 'english' });
  if (pool.status === 409) info('Alice created her fingerprint pool on an earlier run (a pool is generated once per version)');
  else if (pool.status !== 202) throw new Error(`pool: ${pool.status} ${JSON.stringify(pool.body)}`);
  else
    info(
      `Alice asks distribution for a fingerprint pool sized for 8 hosts: ${pool.body.size} fingerprints, each copy holds each with p=${pool.body.inclusionProbability.toFixed(2)}; the embedder generates it`,
    );
  pool = await until(async () => {
    const p = (await call(distribution, aliceKey, 'GET', `/versions/${baseVersion.id}/pool`)).body;
    if (p.status === 'failed') throw new Error(`pool generation failed: ${p.failure}`);
    return p.status === 'ready' && p;
  });
  info(
    `pool ready: ${pool.size} perinucleus fingerprints, sealed at rest (AES-256-GCM); public commitment ${pool.entriesRoot.slice(0, 18)}… (event distribution.pool.generated)`,
  );

  const licences = {};
  for (const [n, account] of Object.entries(hosts)) {
    // Distribution licenses a host when the chain indexer reports its stake (chain.collateral.staked).
    const l = await until(
      async () => (await call(distribution, admin, 'GET', `/licences?versionId=${baseVersion.id}&host=${account.address}&status=active`)).body[0],
      120_000,
    );
    licences[n] = l.id;
    info(
      `${name(n)} (host ${account.address}) is licensed for alice-gpt 1.0.0 by his stake: licence ${l.id} (origin ${l.origin}, event distribution.licence.granted)`,
    );
  }
  for (const [n, id] of Object.entries(licences)) {
    let shown = '';
    const done = await until(async () => {
      const s = (await call(distribution, admin, 'GET', `/licences/${id}/embedding`)).body;
      if (s.state === 'failed' || s.state === 'cancelled') throw new Error(`${n}'s copy ${s.state}: ${s.reason}`);
      const step = `${s.phase}:${Math.floor(s.percent / 20)}`;
      if (s.state === 'running' && step !== shown) {
        shown = step;
        info(`   embedder: ${n}'s copy ${bar(s.percent)} ${s.percent.toFixed(0).padStart(3)}% ${s.phase} (GET /licences/{id}/embedding)`);
      }
      return s.state === 'completed' && s;
    }, 60 * 60_000);
    info(
      `${name(n)}'s copy: ${done.embedded}/${done.fingerprintCount} of his fingerprints verified on the written model; stored as OML version ${done.copyVersionId.slice(0, 8)}… (parent 1.0.0)`,
    );
  }

  const signedGet = async (account, path) => {
    const header = await signHostRequest(account, { audience: 'distribution', method: 'GET', path });
    const res = await fetch(distribution + path, { headers: { [HOST_AUTH_HEADER]: header } });
    return { status: res.status, body: await res.json() };
  };
  const copies = {};
  for (const [n, account] of Object.entries(hosts)) {
    const d = await signedGet(account, `/host/licences/${licences[n]}/copy`);
    if (d.status !== 200) throw new Error(`${n}'s delivery: ${d.status} ${JSON.stringify(d.body)}`);
    copies[n] = join(dir, `copy-${n}`);
    mkdirSync(copies[n], { recursive: true });
    for (const f of d.body.files) writeFileSync(join(copies[n], f.path), Buffer.from(await (await fetch(f.url)).arrayBuffer()));
    info(
      `${name(n)} signs a request with his host key and downloads his copy by URLs valid until ${new Date(d.body.expiresAt).toISOString().slice(11, 19)} UTC (delivery ${d.body.deliveryId.slice(0, 8)}…, event distribution.copy.delivered)`,
    );
  }
  const stolen = await signedGet(hosts.bob, `/host/licences/${licences.charlie}/copy`);
  info(`Bob asks for Charlie's copy: ${stolen.status} (${stolen.body.detail})`);

  // Eve serves Charlie's copy without a licence.
  const port = 8000 + Math.floor(Math.random() * 500) + 100;
  const eve = spawn(enginePythonPath(), ['-m', 'clopen_fp.serve', '--model', copies.charlie, '--port', String(port)], {
    cwd: ENGINE_PYTHON_DIR,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(eve);
  await new Promise((resolve, reject) => {
    eve.stdout.once('data', resolve);
    eve.once('exit', (c) => reject(new Error(`Eve's host exited with ${c}`)));
  });
  const eveUrl = `http://127.0.0.1:${port}/v1/completions`;
  info(`Eve serves a model at ${eveUrl} with no licence`);

  return { versionId: baseVersion.id, hosts, keys, licences, eveUrl: `http://127.0.0.1:${port}`, stopEve: () => eve.kill('SIGTERM') };
}

/** A 20-cell progress bar. */
const bar = (percent) => {
  const full = Math.max(0, Math.min(20, Math.round(percent / 5)));
  return `[${'█'.repeat(full)}${'░'.repeat(20 - full)}]`;
};

/** Bob's and Charlie's host keys (EVM), made on the first run and kept in .local/story. */
export function hostAccounts(root) {
  const { generatePrivateKey, privateKeyToAccount } = require('viem/accounts');
  const dir = join(root, '.local/story');
  mkdirSync(dir, { recursive: true });
  const keysFile = join(dir, 'host-keys.json');
  if (!existsSync(keysFile)) writeFileSync(keysFile, JSON.stringify({ bob: generatePrivateKey(), charlie: generatePrivateKey() }), { mode: 0o600 });
  const keys = JSON.parse(readFileSync(keysFile, 'utf8'));
  return { keys, hosts: Object.fromEntries(Object.entries(keys).map(([n, k]) => [n, privateKeyToAccount(k)])) };
}

async function until(probe, timeoutMs = 10 * 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('timed out; see .local/logs/');
    await new Promise((r) => setTimeout(r, 500));
  }
}
