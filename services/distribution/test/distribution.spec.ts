import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { distributionV1 } from '@clopen/proto';
import { ENGINE_PYTHON_DIR, enginePythonPath } from '@clopen/fingerprint';
import { eventually, freePort } from '@clopen/testing';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { ADMIN_KEY, DistributionHarness, call, hostGet } from './harness';

jest.setTimeout(600_000);

const bob = privateKeyToAccount(generatePrivateKey());
const charlie = privateKeyToAccount(generatePrivateKey());
const eve = privateKeyToAccount(generatePrivateKey());

describe('distribution: licence → pool → per-host copy → delivery → tracing', () => {
  let h: DistributionHarness;
  let aliceStorageKey: string;
  let aliceKey: string;
  let proverKey: string;
  let base: { id: string; modelId: string };
  const licences: Record<string, string> = {};

  beforeAll(async () => {
    h = await DistributionHarness.start();
    aliceStorageKey = await h.issueKey(h.storage.url, 'alice', ['owner']);
    aliceKey = await h.issueKey(h.url, 'alice', ['owner']);
    proverKey = await h.issueKey(h.url, 'paul', ['prover']);
    base = await h.publishBase(aliceStorageKey, 'alice-tiny');
    await h.startEmbedder();
  });
  afterAll(() => h?.stop());

  it('refuses bad pool requests and changes nothing', async () => {
    const unknown = await call(h.url, aliceKey, 'POST', '/versions/00000000-0000-7000-8000-000000000000/pool', { hosts: 2, coalition: 1 });
    expect(unknown.status).toBe(404);
    expect(unknown.body.detail).toMatch(/does not exist in storage/);
    const small = await call(h.url, aliceKey, 'POST', `/versions/${base.id}/pool`, { hosts: 2, coalition: 1, size: 50 });
    expect(small.status).toBe(400);
    expect(small.body.detail).toMatch(/too small to trace coalitions of up to 1 among 2 hosts: it needs at least \d+/);
    const bad = await call(h.url, aliceKey, 'POST', `/versions/${base.id}/pool`, { hosts: 0, strategy: 'x' });
    expect(bad.status).toBe(400);
    const stranger = await h.issueKey(h.url, 'mallory', ['owner']);
    expect((await call(h.url, stranger, 'POST', `/versions/${base.id}/pool`, { hosts: 2, coalition: 1 })).status).toBe(403);
    expect((await call(h.url, aliceKey, 'GET', `/versions/${base.id}/pool`)).status).toBe(404);
  });

  it("generates the owner's pool once, sealed, publishing only its Merkle root", async () => {
    const created = await call(h.url, aliceKey, 'POST', `/versions/${base.id}/pool`, { hosts: 2, coalition: 1, keyStrategy: 'english' });
    expect(created.status).toBe(202);
    expect(created.body).toMatchObject({ status: 'generating', hosts: 2, coalition: 1 });
    expect((await call(h.url, aliceKey, 'POST', `/versions/${base.id}/pool`, { hosts: 2, coalition: 1 })).status).toBe(409);
    const pool = await h.waitForPool(base.id, aliceKey);
    expect(pool).toMatchObject({ status: 'ready', size: created.body.size, entriesRoot: expect.stringMatching(/^0x[0-9a-f]{64}$/) });
    expect(JSON.stringify(pool)).not.toMatch(/"key"|"response"/);
    const [event] = await eventually(async () => (await h.events('distribution.pool.generated')).length === 1 && h.events('distribution.pool.generated'));
    expect(event.payload).toMatchObject({ poolId: pool.id, entriesRoot: pool.entriesRoot, size: pool.size });
    // At rest the entries are ciphertext under the pool key ring.
    const [row] = await h.distribution.ctx.dataSource!.query('SELECT sealed_entries, sealed_seed FROM fingerprint_pools WHERE id = $1', [pool.id]);
    expect(row.sealed_entries).toMatch(/^v1\.k1\./);
    expect(row.sealed_entries).not.toMatch(/ /);
  });

  it('licenses hosts; each gets its own verified copy, stored as an oml child of the base', async () => {
    const bad = await call(h.url, ADMIN_KEY, 'POST', '/licences', { versionId: base.id, hostAddress: '0x1234' });
    expect(bad.status).toBe(400);
    expect((await call(h.url, ADMIN_KEY, 'POST', '/licences', { versionId: '00000000-0000-7000-8000-000000000000', hostAddress: bob.address })).status).toBe(
      404,
    );
    expect((await call(h.url, aliceKey, 'POST', '/licences', { versionId: base.id, hostAddress: bob.address })).status).toBe(403);
    for (const [name, account] of [
      ['bob', bob],
      ['charlie', charlie],
    ] as const) {
      const res = await call(h.url, ADMIN_KEY, 'POST', '/licences', { versionId: base.id, hostAddress: account.address.toLowerCase() });
      expect(res.status).toBe(201);
      expect(res.body.hostAddress).toBe(account.address);
      licences[name] = res.body.id;
    }
    const dup = await call(h.url, ADMIN_KEY, 'POST', '/licences', { versionId: base.id, hostAddress: bob.address });
    expect(dup.status).toBe(409);
    expect(dup.body.detail).toContain(licences.bob);

    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    expect(metrics).toMatch(/embedding_queue_jobs\{[^}]*state="(waiting|active)"[^}]*\} [1-9]/);

    const progressSeen = await eventually(
      async () => {
        const s = await call(h.url, ADMIN_KEY, 'GET', `/licences/${licences.bob}/embedding`);
        return (s.body.state === 'running' || s.body.state === 'completed') && s.body;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    expect(['download', 'embed', 'verify', 'upload', 'done']).toContain(progressSeen.phase);

    for (const name of ['bob', 'charlie']) {
      const done = await h.waitForEmbedding(licences[name]);
      expect(done).toMatchObject({ state: 'completed', percent: 100, reason: null });
      expect(done.embedded / done.fingerprintCount).toBeGreaterThanOrEqual(0.95);
      const copy = await h.storageAs(ADMIN_KEY).getVersion(done.copyVersionId);
      expect(copy).toMatchObject({ kind: 'oml', parents: [base.id], label: `oml-${licences[name]}` });
    }
    const omls = (await h.storageAs(ADMIN_KEY).listVersions(base.modelId)).filter((v) => v.kind === 'oml');
    expect(omls).toHaveLength(2);
    expect(omls[0].manifestSha256).not.toBe(omls[1].manifestSha256);

    const committed = await h.events('distribution.assignment.committed');
    expect(committed.map((e) => e.payload.hostsCommitted)).toEqual([1, 2]);
    expect(committed[1].payload.assignmentRoot).toMatch(/^0x[0-9a-f]{64}$/);
    const progressed = await h.events('distribution.embedding.progressed');
    expect(
      progressed.some((e) => e.payload.licenceId === licences.bob && e.payload.state === distributionV1.EmbeddingState.RUNNING && e.payload.phase === 'embed'),
    ).toBe(true);
    expect(progressed.filter((e) => e.payload.state === distributionV1.EmbeddingState.COMPLETED)).toHaveLength(2);
    expect((await h.events('distribution.licence.granted')).map((e) => e.payload.licence?.hostAddress).sort()).toEqual([bob.address, charlie.address].sort());
  });

  it('delivers a copy to its own host only, by signature, with short-lived URLs; every delivery recorded', async () => {
    const unsigned = await call(h.url, undefined, 'GET', `/host/licences/${licences.bob}/copy`);
    expect(unsigned.status).toBe(401);
    const withApiKey = await call(h.url, ADMIN_KEY, 'GET', `/host/licences/${licences.bob}/copy`);
    expect(withApiKey.status).toBe(401);
    expect((await hostGet(h.url, charlie, `/host/licences/${licences.bob}/copy`)).status).toBe(404);
    expect((await hostGet(h.url, eve, `/host/licences/${licences.bob}/copy`)).status).toBe(404);

    const mine = await hostGet(h.url, bob, '/host/licences');
    expect(mine.status).toBe(200);
    expect(mine.body.map((l: any) => l.id)).toEqual([licences.bob]);

    const delivered = await hostGet(h.url, bob, `/host/licences/${licences.bob}/copy`);
    expect(delivered.status).toBe(200);
    expect(new Date(delivered.body.expiresAt).getTime() - Date.now()).toBeLessThanOrEqual(300_000);
    const weights = delivered.body.files.find((f: any) => f.path === 'model.safetensors');
    const bytes = Buffer.from(await (await fetch(weights.url)).arrayBuffer());
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(weights.sha256);
    expect(new URL(weights.url).searchParams.get('X-Amz-Expires')).toBe('300');

    // The same signed request again is a replay.
    const replay = await call(h.url, undefined, 'GET', `/host/licences/${licences.bob}/copy`, undefined, { 'x-clopen-host-auth': delivered.header });
    expect(replay.status).toBe(401);
    expect(replay.body.detail).toMatch(/already used|replay/i);

    const history = await call(h.url, ADMIN_KEY, 'GET', `/licences/${licences.bob}/deliveries`);
    expect(history.body).toHaveLength(1);
    const events = await eventually(async () => {
      const e = await h.events('distribution.copy.delivered');
      return e.length === 1 && e;
    });
    expect(events[0].payload).toMatchObject({ licenceId: licences.bob, hostAddress: bob.address, copyVersionId: delivered.body.copyVersionId });
  });

  it("traces a leaked copy to its host from the suspect's answers, accusing no one else", async () => {
    // Charlie's copy leaks to Eve, who serves it.
    const copy = await hostGet(h.url, charlie, `/host/licences/${licences.charlie}/copy`);
    const dir = await mkdtemp(join(tmpdir(), 'leak-'));
    for (const f of copy.body.files) await writeFile(join(dir, f.path), Buffer.from(await (await fetch(f.url)).arrayBuffer()));
    const port = await freePort();
    const server = spawn(enginePythonPath(), ['-m', 'clopen_fp.serve', '--model', dir, '--port', String(port)], {
      cwd: ENGINE_PYTHON_DIR,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise((resolve, reject) => {
        server.stdout!.once('data', resolve);
        server.once('exit', (c) => reject(new Error(`serve exited ${c}`)));
      });
      const challenge = await call(h.url, proverKey, 'POST', `/versions/${base.id}/challenges`, {});
      expect(challenge.status).toBe(201);
      expect(challenge.body.keys.length).toBeGreaterThan(10);
      expect(JSON.stringify(challenge.body)).not.toMatch(/"response"/);
      const responses = [];
      for (const { index, key } of challenge.body.keys) {
        const r: any = await (
          await fetch(`http://127.0.0.1:${port}/v1/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ model: 'eve', prompt: key, max_tokens: 4, temperature: 0 }),
          })
        ).json();
        responses.push({ index, output: r.choices[0].text });
      }
      const bad = await call(h.url, proverKey, 'POST', `/challenges/${challenge.body.challengeId}/trace`, { responses: [{ index: -1, output: 'x' }] });
      expect(bad.status).toBe(400);
      const traced = await call(h.url, proverKey, 'POST', `/challenges/${challenge.body.challengeId}/trace`, { responses });
      expect(traced.status).toBe(201);
      expect(traced.body.outcome).toBe('accused');
      expect(traced.body.accused).toEqual([charlie.address]);
      const scores = Object.fromEntries(traced.body.scores.map((s: any) => [s.hostAddress, s]));
      expect(scores[charlie.address].pValue).toBeLessThanOrEqual(0.01);
      expect(scores[bob.address].accused).toBe(false);
      // The same outputs again (the caller lost the answer): the same trace, not a second one; other outputs: 409.
      const again = await call(h.url, proverKey, 'POST', `/challenges/${challenge.body.challengeId}/trace`, { responses: [...responses].reverse() });
      expect(again.status).toBe(201);
      expect(again.body.id).toBe(traced.body.id);
      const other = responses.map((r, i) => (i === 0 ? { ...r, output: `${r.output} and more` } : r));
      expect((await call(h.url, proverKey, 'POST', `/challenges/${challenge.body.challengeId}/trace`, { responses: other })).status).toBe(409);
      const [event] = await eventually(async () => (await h.events('distribution.trace.completed')).length === 1 && h.events('distribution.trace.completed'));
      expect(event.payload).toMatchObject({ traceId: traced.body.id, accused: [charlie.address], outcome: 'accused' });
      // The next challenge never repeats a key the suspect has seen.
      const next = await call(h.url, proverKey, 'POST', `/versions/${base.id}/challenges`, {});
      const seen = new Set(challenge.body.keys.map((k: any) => k.index));
      expect(next.body.keys.some((k: any) => seen.has(k.index))).toBe(false);
    } finally {
      server.kill('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('stops delivering when a licence ends', async () => {
    const ended = await call(h.url, ADMIN_KEY, 'POST', `/licences/${licences.charlie}/end`, { reason: 'slashed' });
    expect(ended.status).toBe(200);
    const refused = await hostGet(h.url, charlie, `/host/licences/${licences.charlie}/copy`);
    expect(refused.status).toBe(403);
    expect(refused.body.detail).toMatch(/ended \(slashed\)/);
    const [event] = await eventually(async () => (await h.events('distribution.licence.ended')).length === 1 && h.events('distribution.licence.ended'));
    expect(event.payload.reason).toBe('slashed');
    // Re-licensing the same host is allowed once the old licence ended; ending that one cancels its job.
    const again = await call(h.url, ADMIN_KEY, 'POST', '/licences', { versionId: base.id, hostAddress: charlie.address });
    expect(again.status).toBe(201);
    await call(h.url, ADMIN_KEY, 'POST', `/licences/${again.body.id}/end`, { reason: 'unstaked' });
    const cancelled = await h.waitForEmbedding(again.body.id, ['cancelled']);
    expect(cancelled.reason).toBe('licence ended: unstaked');
  });

  it('rotates the pool key: pools re-sealed under the new key still open', async () => {
    const rotatedKeys = `k2:${Buffer.alloc(32, 7).toString('base64')},${h.poolKeys}`;
    await h.distribution.close();
    h.distribution = await (
      await import('@clopen/service-kit')
    ).createService((await import('../src/distribution.service')).distributionService, {
      ...h.env(),
      ...h.distributionEnv(),
      DISTRIBUTION_POOL_KEYS: rotatedKeys,
    });
    const res = await call(h.url, ADMIN_KEY, 'POST', '/admin/pools/rotate-keys');
    expect(res.body).toEqual({ resealed: 1, currentKeyId: 'k2' });
    const [row] = await h.distribution.ctx.dataSource!.query('SELECT sealed_entries FROM fingerprint_pools');
    expect(row.sealed_entries).toMatch(/^v1\.k2\./);
    expect((await call(h.url, proverKey, 'POST', `/versions/${base.id}/challenges`, { keys: 3 })).status).toBe(201);
  });
});
