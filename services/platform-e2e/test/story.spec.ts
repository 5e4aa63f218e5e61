import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readEvents } from '@clopen/bus';
import { ENGINE_PYTHON_DIR, enginePythonPath } from '@clopen/fingerprint';
import { privateKeyFromSeed, signReceipt } from '@clopen/host-sdk';
import { OnnxCausalLm } from '@clopen/inference';
import { accessV1, toBinary } from '@clopen/proto';
import { StorageClient } from '@clopen/storage-client';
import { TEST_ADMIN_KEY, api, eventually, freePort, type ServiceProcess } from '@clopen/testing';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { Platform, signedCall } from './platform';

// Copies are really embedded: minutes alone, longer beside the rest of the suite on a small CI machine.
jest.setTimeout(1_500_000);

interface Query {
  id: string;
  body: string;
}

/** What a prover does with a challenge: every query to the endpoint, no permission string, answers as received. */
async function ask(endpoint: string, queries: Query[]) {
  const answers = [];
  for (const q of queries) {
    const res = await fetch(`${endpoint}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: q.body });
    const receipt = res.headers.get('x-clopen-receipt') ?? undefined;
    answers.push({ queryId: q.id, status: res.status, body: await res.text(), ...(receipt ? { receipt } : {}) });
  }
  return answers;
}

/**
 * Provers against the real platform: Alice's model is fingerprinted, Bob and Charlie get their own
 * copies; Bob's honest gateway refuses a prover's unpermitted queries (no violation); Eve serves
 * Charlie's leaked copy (Charlie's copy is proven served where it is not licensed); Bob, serving his
 * copy to anyone and signing the answers, is proven to serve without permission; a tampered proof is
 * refused.
 */
describe('platform: provers', () => {
  let p: Platform;
  let versionId: string;
  let modelId: string;
  let licences: Record<'bob' | 'charlie', string>;
  let bobGateway: ServiceProcess;
  let bobDir: string;
  const bobKey = generatePrivateKey();
  const bob = privateKeyToAccount(bobKey);
  const charlie = privateKeyToAccount(generatePrivateKey());
  const prover = privateKeyToAccount(generatePrivateKey());
  const bobServingSeed = randomBytes(32);
  const challenge = async (endpoint: string) => {
    const c = await signedCall(prover, p.access.url, 'access', 'POST', '/prover/challenges', { versionId, endpoint });
    expect(c.status).toBe(201);
    return c.body as { challengeId: string; queries: Query[] };
  };
  const prove = (challengeId: string, answers: unknown[]) => signedCall(prover, p.access.url, 'access', 'POST', `/prover/challenges/${challengeId}/proof`, { answers });

  beforeAll(async () => {
    p = await Platform.start();
    const aliceStorage = await p.key(p.storage.url, 'alice', ['owner']);
    const aliceDistribution = await p.key(p.distribution.url, 'alice', ['owner']);
    const published = await p.publishBase(aliceStorage, 'alice-gpt');
    [modelId, versionId] = [published.modelId, published.version.id];
    expect((await api(p.distribution.url, aliceDistribution, 'POST', `/versions/${versionId}/pool`, { hosts: 2, coalition: 1, keyStrategy: 'english' })).status).toBe(202);
    await p.waitForPool(versionId, aliceDistribution);
    licences = {} as typeof licences;
    for (const [name, account] of [['bob', bob], ['charlie', charlie]] as const) {
      const l = await api(p.distribution.url, TEST_ADMIN_KEY, 'POST', '/licences', { versionId, hostAddress: account.address });
      expect(l.status).toBe(201);
      licences[name] = l.body.id;
    }
    await Promise.all(Object.values(licences).map((id) => p.waitForCopy(id)));
    // Bob's gateway fetches its own copy (with its ONNX graph) and serves it behind permission strings.
    bobDir = await mkdtemp(join(tmpdir(), 'bob-copy-'));
    bobGateway = await p.spawn('host-gateway', {
      GATEWAY_HOST_KEY: bobKey,
      GATEWAY_SERVING_KEY: `s1:${bobServingSeed.toString('base64')}`,
      GATEWAY_MODEL_ID: modelId,
      GATEWAY_MODEL_DIR: bobDir,
      GATEWAY_LICENCE_ID: licences.bob,
      DISTRIBUTION_URL: p.distribution.url,
      ACCESS_URL: p.access.url,
      GATEWAY_SPOOL_DIR: join(bobDir, '.spool'),
      GATEWAY_THREADS: '1',
    });
    expect((await api(p.access.url, TEST_ADMIN_KEY, 'POST', '/provers', { address: prover.address, name: 'watchdog' })).status).toBe(201);
  });
  afterAll(async () => {
    await p?.stop();
    if (bobDir) await rm(bobDir, { recursive: true, force: true });
  });

  it('only registered provers get challenges', async () => {
    const stranger = privateKeyToAccount(generatePrivateKey());
    const refused = await signedCall(stranger, p.access.url, 'access', 'POST', '/prover/challenges', { versionId, endpoint: 'http://example.test' });
    expect(refused.status).toBe(403);
    expect(refused.body.message).toMatch(/not a registered prover/);
    expect((await fetch(`${p.access.url}/prover/challenges`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(401);
  });

  it('finds no violation at an honest host: its gateway refuses every query without a permission string', async () => {
    const c = await challenge(bobGateway.url);
    // Keys and decoys are alike: one request shape, nothing that marks a key.
    expect(new Set(c.queries.map((q) => Object.keys(JSON.parse(q.body)).join(','))).size).toBe(1);
    const answers = await ask(bobGateway.url, c.queries);
    expect(answers.every((a) => a.status === 401)).toBe(true);
    const proof = await prove(c.challengeId, answers);
    expect(proof.status).toBe(201);
    expect(proof.body).toMatchObject({ outcome: 'no_violation', unpermittedAnswers: 0, keysAnswered: 0 });
  });

  it("proves Charlie's copy served by Eve, who has no licence", async () => {
    const leaked = await mkdtemp(join(tmpdir(), 'eve-'));
    const copyId = (await api(p.distribution.url, TEST_ADMIN_KEY, 'GET', `/licences/${licences.charlie}/embedding`)).body.copyVersionId;
    await new StorageClient(p.storage.url, TEST_ADMIN_KEY).downloadVersion(copyId, leaked);
    const port = await freePort();
    const eve: ChildProcess = spawn(enginePythonPath(), ['-m', 'clopen_fp.serve', '--model', leaked, '--port', String(port)], { cwd: ENGINE_PYTHON_DIR, stdio: 'ignore' });
    try {
      const endpoint = `http://127.0.0.1:${port}`;
      await eventually(async () => (await fetch(`${endpoint}/v1/completions`, { method: 'POST', body: '{"prompt":"a","max_tokens":1}' }).catch(() => undefined))?.status === 200, { timeoutMs: 60_000, what: "Eve's server" });
      const c = await challenge(endpoint);
      const proof = await prove(c.challengeId, await ask(endpoint, c.queries));
      expect(proof.status).toBe(201);
      expect(proof.body.outcome).toBe('violation');
      expect(proof.body.violation).toMatchObject({ kind: 'unlicensed_copy', prover: prover.address, endpoint, accused: [{ hostAddress: charlie.address, role: 'copy_licensee' }] });
      expect(proof.body.violation.accused[0].pValue).toBeLessThanOrEqual(0.01);
      const [event] = await eventually(async () => (await readEvents(p.bus, 'access.violation.proven')).length === 1 && readEvents(p.bus, 'access.violation.proven'));
      expect(event.payload).toMatchObject({ violationId: proof.body.violation.id, kind: 'unlicensed_copy', evidenceSha256: proof.body.violation.evidenceSha256, prover: prover.address });
      expect(event.payload.accused.map((a) => a.hostAddress)).toEqual([charlie.address]);
      // The evidence is kept as submitted; the same challenge cannot be proven twice.
      const stored = await api(p.access.url, TEST_ADMIN_KEY, 'GET', `/violations/${proof.body.violation.id}`);
      expect(stored.body.evidence.answers).toHaveLength(c.queries.length);
      expect((await prove(c.challengeId, [{ queryId: c.queries[0].id, status: 200, body: '{}' }])).status).toBe(409);
    } finally {
      eve.kill();
      await rm(leaked, { recursive: true, force: true });
    }
  });

  it('proves that Bob serves without permission when he answers anyone and signs it; a tampered proof is refused', async () => {
    // Bob's own server: his copy, no permission check, every answer signed with his serving key.
    const model = await OnnxCausalLm.load(bobDir, { threads: 1 });
    const servingKey = privateKeyFromSeed(bobServingSeed);
    const answer = async (raw: string, res: ServerResponse) => {
      const { prompt, max_tokens } = JSON.parse(raw);
      const out = await model.complete(prompt, { maxTokens: max_tokens });
      const body = JSON.stringify({ object: 'text_completion', choices: [{ index: 0, text: out.text, finish_reason: out.finishReason }] });
      const receipt = signReceipt(servingKey, 's1', { permission: { grantId: '', counter: 0n, modelId, userSignature: new Uint8Array() }, host: bob.address, requestBody: raw, responseBody: body, tokensIn: out.tokensIn, tokensOut: out.tokensOut });
      res.writeHead(200, { 'content-type': 'application/json', 'x-clopen-receipt': Buffer.from(toBinary(accessV1.UsageReceiptSchema, receipt)).toString('base64url') }).end(body);
    };
    const server: Server = createServer((req, res) => {
      let raw = '';
      req.on('data', (d) => (raw += d));
      req.on('end', () => answer(raw, res).catch((e: Error) => res.writeHead(500).end(e.message)));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      const c = await challenge(endpoint);
      const answers = await ask(endpoint, c.queries);
      expect(answers.every((a) => a.receipt)).toBe(true);

      const tampered = answers.map((a, i) => (i === 0 ? { ...a, body: a.body.replace('"text":"', '"text":"x') } : a));
      const refused = await prove(c.challengeId, tampered);
      expect(refused.status).toBe(400);
      expect(refused.body.message).toMatch(/not the one the host signed/);
      const forged = answers.map((a, i) => (i === 0 ? { ...a, receipt: a.receipt!.slice(0, -4) + (a.receipt!.endsWith('AAAA') ? 'BBBB' : 'AAAA') } : a));
      expect((await prove(c.challengeId, forged)).status).toBe(400);

      const proof = await prove(c.challengeId, answers);
      expect(proof.status).toBe(201);
      expect(proof.body.violation).toMatchObject({ kind: 'served_without_permission', unpermittedAnswers: c.queries.length, accused: [{ hostAddress: bob.address, role: 'served_without_permission' }] });
      // The fingerprints confirm it is Bob's own copy.
      expect(proof.body.trace.accused).toEqual([bob.address]);
      expect(proof.body.violation.accused[0].pValue).toBeLessThanOrEqual(0.01);
    } finally {
      server.close();
      await model.close();
    }
  });
});
