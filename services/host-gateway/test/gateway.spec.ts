import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, type KeyObject } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Bus } from '@clopen/bus';
import { signHostRequest } from '@clopen/host-auth';
import { ENGINE_PYTHON_DIR, enginePythonPath, ensureBaseModel, exportOnnx } from '@clopen/fingerprint';
import {
  PERMISSION_HEADER,
  generateUserKey,
  issueGrant,
  permissionString,
  privateKeyFromSeed,
  rawPublicKey,
  receiptSigningBytes,
  userPublicKeyBytes,
  verifyEd25519,
  type SignedGrant,
} from '@clopen/host-sdk';
import { verifyMerkleProof } from '@clopen/merkle';
import { accessV1, fromBinary } from '@clopen/proto';
import {
  TEST_ADMIN_KEY,
  api,
  createTestBusNamespace,
  createTestDatabase,
  endLicence,
  eventually,
  freePort,
  licenseHost,
  serviceEnv,
  spawnService,
  startTestS3,
  testInfra,
  type ServiceProcess,
  type TestBusNamespace,
  type TestDatabase,
  type TestS3,
} from '@clopen/testing';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';

const MODEL_CACHE = path.join(os.tmpdir(), 'clopen-test-models');

/**
 * Dave buys a grant, calls Bob's gateway (an ONNX copy served by onnxruntime-node), and the
 * receipts of what he was served land in an epoch whose root and inclusion proofs verify; every
 * kind of bad permission string is refused with its reason and neither served nor counted.
 */
describe('host-gateway', () => {
  let db: TestDatabase;
  let ns: TestBusNamespace;
  let s3: TestS3;
  let bus: Bus;
  let storage: ServiceProcess;
  let access: ServiceProcess;
  let gateway: ServiceProcess;
  let modelDir: string;
  let spool: string;
  let modelId: string;
  let otherModelId: string;
  let daveKey: string;
  let bobLicence: Awaited<ReturnType<typeof licenseHost>>;
  const issuerSeed = randomBytes(32);
  const bobKey = generatePrivateKey();
  const host = privateKeyToAccount(bobKey).address;
  const servingSeed = randomBytes(32);
  const servingPublic = rawPublicKey(privateKeyFromSeed(servingSeed));
  const dave = generateUserKey();
  const counters = new Map<string, number>();

  const buy = async (over: Record<string, unknown> = {}) => {
    const res = await api(access.url, daveKey, 'POST', '/grants', {
      modelId,
      userPublicKey: userPublicKeyBytes(dave).toString('base64url'),
      quota: { requests: 100 },
      days: 30,
      ...over,
    });
    expect(res.status).toBe(201);
    return res.body as { id: string; grant: string; issuerSignature: string };
  };
  const signed = (g: { grant: string; issuerSignature: string }): SignedGrant => ({
    bytes: Buffer.from(g.grant, 'base64url'),
    issuerSignature: Buffer.from(g.issuerSignature, 'base64url'),
  });
  /** Dave's request with a fresh counter (or the one given), signed for `host` and `model`. */
  const call = async (
    grant: SignedGrant,
    id: string,
    body: object,
    o: { route?: string; host?: string; model?: string; key?: KeyObject; counter?: number; header?: string } = {},
  ) => {
    const raw = JSON.stringify(body);
    const counter = o.counter ?? (counters.get(id) ?? 0) + 1;
    counters.set(id, Math.max(counter, counters.get(id) ?? 0));
    const header = o.header ?? permissionString(grant, o.key ?? dave, counter, { host: o.host ?? host, model: o.model ?? modelId, body: raw });
    const res = await fetch(`${gateway.url}${o.route ?? '/v1/completions'}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(header ? { [PERMISSION_HEADER]: header } : {}) },
      body: raw,
    });
    return { res, text: await res.text(), header };
  };
  const usage = async (id: string) => (await api(access.url, TEST_ADMIN_KEY, 'GET', `/grants/${id}/usage`)).body;

  beforeAll(async () => {
    [db, ns, s3] = await Promise.all([createTestDatabase(), createTestBusNamespace(), startTestS3()]);
    bus = await Bus.connect({ servers: testInfra.natsUrl, producer: 'test', namespace: ns.namespace });
    await bus.ensureStreams();
    const base = (await ensureBaseModel('test-tiny', { cacheDir: MODEL_CACHE })).dir;
    modelDir = mkdtempSync(path.join(os.tmpdir(), 'clopen-gateway-model-'));
    for (const f of ['config.json', 'tokenizer.json', 'model.safetensors']) copyFileSync(path.join(base, f), path.join(modelDir, f));
    spool = mkdtempSync(path.join(os.tmpdir(), 'clopen-gateway-spool-'));
    [storage] = await Promise.all([spawnService('storage', serviceEnv({ db, ns, s3 })), exportOnnx(modelDir)]);
    // No opening blocks (access's usage spec and bench:access cover them): the quota test below counts every lease itself.
    access = await spawnService('access', {
      ...serviceEnv({ db, ns }),
      ACCESS_ISSUER_KEYS: `i1:${issuerSeed.toString('base64')}`,
      ACCESS_QUOTA_HANDOUT_HOSTS: '0',
    });
    modelId = (await api(storage.url, TEST_ADMIN_KEY, 'POST', '/models', { name: 'alice-gpt' })).body.id;
    otherModelId = (await api(storage.url, TEST_ADMIN_KEY, 'POST', '/models', { name: 'other-gpt' })).body.id;
    daveKey = (await api(access.url, TEST_ADMIN_KEY, 'POST', '/api-keys', { principalId: 'dave', roles: ['user'] })).body.key;
    // Bob is licensed for the model, as distribution would say when his stake is seen.
    bobLicence = await licenseHost(bus, host, modelId);
    gateway = await spawnService('host-gateway', {
      ...serviceEnv({ db, ns }),
      GATEWAY_HOST_KEY: bobKey,
      GATEWAY_SERVING_KEY: `s1:${servingSeed.toString('base64')}`,
      GATEWAY_MODEL_ID: modelId,
      GATEWAY_MODEL_DIR: modelDir,
      GATEWAY_THREADS: '1',
      ACCESS_URL: access.url,
      GATEWAY_SPOOL_DIR: spool,
      GATEWAY_RECEIPT_FLUSH_MS: '200',
      GATEWAY_LICENCE_CHECK_SECONDS: '1',
    });
  });
  afterAll(async () => {
    await gateway?.stop();
    await access?.stop();
    await storage?.stop();
    await bus?.close();
    await Promise.allSettled([db?.drop(), ns?.cleanup(), s3?.stop()]);
    for (const d of [modelDir, spool]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('serves a permitted completion, signed by the host, and the receipt lands in an epoch whose root and proof verify', async () => {
    const g = await buy();
    const { res, text } = await call(signed(g), g.id, { model: modelId, prompt: 'a dog', max_tokens: 8 }, { host });
    expect(res.status).toBe(200);
    const body = JSON.parse(text);
    expect(body).toMatchObject({
      object: 'text_completion',
      model: modelId,
      choices: [{ index: 0, text: expect.any(String), finish_reason: 'length' }],
      usage: { completion_tokens: 8 },
    });
    expect(res.headers.get('x-clopen-host')).toBe(host);
    // The receipt in the header is signed by Bob's serving key and binds this exact answer.
    const receipt = fromBinary(accessV1.UsageReceiptSchema, Buffer.from(res.headers.get('x-clopen-receipt')!, 'base64url'));
    expect(verifyEd25519(receipt.hostSignature, receiptSigningBytes(receipt.body), servingPublic)).toBe(true);
    const rb = fromBinary(accessV1.ReceiptBodySchema, receipt.body);
    expect(rb).toMatchObject({ grantId: g.id, counter: 1n, hostAddress: host, modelId, tokensOut: 8 });
    expect(Buffer.from(rb.responseSha256).toString('hex')).toBe(createHash('sha256').update(text).digest('hex'));

    await eventually(async () => (await usage(g.id)).requests === 1, { timeoutMs: 15_000, what: 'the receipt counted by access' });
    const closed = await api(access.url, TEST_ADMIN_KEY, 'POST', '/admin/epochs/close');
    expect(closed.status).toBe(201);
    const proof = (await api(access.url, TEST_ADMIN_KEY, 'GET', `/epochs/proof?grantId=${g.id}&counter=1`)).body;
    expect(proof.root).toBe(closed.body.root);
    const stored = fromBinary(accessV1.UsageReceiptSchema, Buffer.from(proof.receipt, 'base64url'));
    expect(Buffer.from(stored.body).equals(Buffer.from(receipt.body))).toBe(true);
    const leaf = createHash('sha256').update(Buffer.of(0)).update(Buffer.from(proof.receipt, 'base64url')).digest();
    expect(verifyMerkleProof(proof.root, leaf, proof.proof)).toBe(true);
  });

  it('streams completions and chat, with the receipt as the last event', async () => {
    const g = await buy();
    const plain = JSON.parse((await call(signed(g), g.id, { prompt: 'the quality of being', max_tokens: 12 }, { host })).text).choices[0].text;
    const { res, text } = await call(signed(g), g.id, { prompt: 'the quality of being', max_tokens: 12, stream: true }, { host });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const events = text.split('\n\n').filter(Boolean);
    expect(events.at(-1)).toBe('data: [DONE]');
    const receiptEvent = events.at(-2)!;
    expect(receiptEvent.startsWith('event: clopen.receipt\n')).toBe(true);
    const streamed = events
      .filter((e) => e.startsWith('data: {'))
      .map((e) => JSON.parse(e.slice(6)).choices[0].text)
      .join('');
    expect(streamed).toBe(plain);
    const receipt = fromBinary(accessV1.UsageReceiptSchema, Buffer.from(JSON.parse(receiptEvent.split('\ndata: ')[1]).receipt, 'base64url'));
    const before = text.slice(0, text.indexOf('event: clopen.receipt'));
    expect(Buffer.from(fromBinary(accessV1.ReceiptBodySchema, receipt.body).responseSha256).toString('hex')).toBe(
      createHash('sha256').update(before).digest('hex'),
    );

    const chat = await call(
      signed(g),
      g.id,
      { messages: [{ role: 'user', content: 'what is a dog?' }], max_tokens: 6 },
      { host, route: '/v1/chat/completions' },
    );
    expect(chat.res.status).toBe(200);
    expect(JSON.parse(chat.text)).toMatchObject({ object: 'chat.completion', choices: [{ message: { role: 'assistant', content: expect.any(String) } }] });
    await eventually(async () => (await usage(g.id)).requests === 3, { timeoutMs: 15_000, what: 'three receipts counted' });
  });

  it('refuses forged, expired, replayed, revoked, wrong-host, wrong-model, over-quota and malformed strings, serving and counting nothing', async () => {
    const g = await buy();
    const prompt = { prompt: 'a dog', max_tokens: 4 };
    const refused = async (r: Promise<{ res: Response; text: string }>, status: number, code: string) => {
      const { res, text } = await r;
      expect({ status: res.status, code: JSON.parse(text).error?.code }).toEqual({ status, code });
      expect(res.headers.get('x-clopen-receipt')).toBeNull();
    };
    const now = Math.floor(Date.now() / 1000);
    const forged = issueGrant(generateUserKey(), {
      id: g.id,
      modelId,
      userPublicKey: userPublicKeyBytes(dave),
      notBefore: now - 60,
      expiresAt: now + 3600,
      issuerKeyId: 'i1',
    });
    await refused(call(forged, 'forged', prompt, { host }), 401, 'forged');
    const expired = issueGrant(privateKeyFromSeed(issuerSeed), {
      id: '018f0000-0000-7000-8000-000000000001',
      modelId,
      userPublicKey: userPublicKeyBytes(dave),
      notBefore: now - 7200,
      expiresAt: now - 3600,
      issuerKeyId: 'i1',
    });
    await refused(call(expired, 'expired', prompt, { host }), 401, 'expired');
    const ok = await call(signed(g), g.id, prompt, { host });
    expect(ok.res.status).toBe(200);
    await refused(call(signed(g), g.id, prompt, { host, header: ok.header }), 401, 'replayed');
    await refused(call(signed(g), g.id, prompt, { host, key: generateUserKey() }), 401, 'bad_signature'); // another user's key
    await refused(call(signed(g), g.id, prompt, { host: privateKeyToAccount(generatePrivateKey()).address }), 401, 'bad_signature'); // signed for another host
    const elsewhere = await buy({ hosts: [privateKeyToAccount(generatePrivateKey()).address] });
    await refused(call(signed(elsewhere), elsewhere.id, prompt, { host }), 403, 'wrong_host');
    const other = await buy({ modelId: otherModelId });
    await refused(call(signed(other), other.id, prompt, { host, model: otherModelId }), 403, 'wrong_model');
    const one = await buy({ quota: { requests: 1 } });
    expect((await call(signed(one), one.id, prompt, { host })).res.status).toBe(200);
    await refused(call(signed(one), one.id, prompt, { host }), 429, 'over_quota'); // no host has any of its quota left
    await refused(call(signed(g), g.id, prompt, { host, header: '!!not-a-permission!!' }), 401, 'malformed');
    await refused(call(signed(g), g.id, prompt, { host, header: '' }), 401, 'missing');
    const bad = await fetch(`${gateway.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt": 3}' });
    expect(bad.status).toBe(400);
    // The contract checks the body, and its refusal keeps OpenAI's error shape.
    expect(await bad.json()).toEqual({
      error: { type: 'invalid_request_error', code: 'invalid_argument', message: expect.stringMatching(/^invalid request body: prompt: Expected string/) },
    });

    expect((await api(access.url, daveKey, 'POST', `/grants/${g.id}/revoke`, { reason: 'refund' })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1_000)); // "within seconds": the feed delivers in milliseconds
    const revoked = await call(signed(g), g.id, prompt, { host });
    expect(JSON.parse(revoked.text).error.code).toBe('revoked');

    // Only the two served requests are counted.
    await eventually(async () => (await usage(g.id)).requests === 1 && (await usage(one.id)).requests === 1, {
      timeoutMs: 15_000,
      what: 'the served requests counted',
    });
    await new Promise((r) => setTimeout(r, 800));
    expect((await usage(g.id)).requests).toBe(1);
    for (const id of [elsewhere.id, other.id]) expect((await usage(id)).requests).toBe(0);
  });

  it('forwards to an upstream OpenAI-compatible server and answers as the local copy does', async () => {
    const port = await freePort();
    const upstream: ChildProcess = spawn(enginePythonPath(), ['-m', 'clopen_fp.serve', '--model', modelDir, '--port', String(port)], {
      env: { ...process.env, PYTHONPATH: ENGINE_PYTHON_DIR },
      stdio: 'ignore',
    });
    const carolKey = generatePrivateKey();
    const carol = privateKeyToAccount(carolKey).address;
    let relay: ServiceProcess | undefined;
    try {
      await eventually(
        async () =>
          (await fetch(`http://127.0.0.1:${port}/v1/completions`, { method: 'POST', body: '{"prompt":"x","max_tokens":1}' }).catch(() => undefined))?.status ===
          200,
        { timeoutMs: 60_000, what: 'the upstream server' },
      );
      await licenseHost(bus, carol, modelId); // her gateway registers its key once access has seen it
      relay = await spawnService('host-gateway', {
        ...serviceEnv({ db, ns }),
        GATEWAY_HOST_KEY: carolKey,
        GATEWAY_SERVING_KEY: `s1:${randomBytes(32).toString('base64')}`,
        GATEWAY_MODEL_ID: modelId,
        GATEWAY_UPSTREAM_URL: `http://127.0.0.1:${port}`,
        ACCESS_URL: access.url,
        GATEWAY_SPOOL_DIR: mkdtempSync(path.join(os.tmpdir(), 'clopen-gateway-spool-')),
      });
      const g = await buy();
      const body = JSON.stringify({ prompt: 'any of various small plants having', max_tokens: 10 });
      const res = await fetch(`${relay.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [PERMISSION_HEADER]: permissionString(signed(g), dave, 1, { host: carol, model: modelId, body }) },
        body,
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-clopen-host')).toBe(carol);
      const local = await call(signed(g), g.id, JSON.parse(body), { host, counter: 2 });
      expect(((await res.json()) as any).choices[0].text).toBe(JSON.parse(local.text).choices[0].text);
    } finally {
      await relay?.stop();
      upstream.kill();
    }
  });

  it('spends the request of a stream its client leaves after the first text, and signs a receipt for what it was sent', async () => {
    const g = await buy({ quota: { requests: 1 } });
    const raw = JSON.stringify({ prompt: 'the quality of being', max_tokens: 64, stream: true });
    const header = permissionString(signed(g), dave, 1, { host, model: modelId, body: raw });
    counters.set(g.id, 1);
    const leave = new AbortController();
    const res = await fetch(`${gateway.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [PERMISSION_HEADER]: header },
      body: raw,
      signal: leave.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let first = '';
    while (!first.includes('"text":"') || first.includes('"text":""')) first += new TextDecoder().decode((await reader.read()).value);
    leave.abort();
    // The one request of the grant is spent: the next is refused, and the partial answer is counted.
    await eventually(async () => (await usage(g.id)).requests === 1, { timeoutMs: 15_000, what: 'the receipt of the stream left mid-way' });
    const again = await call(signed(g), g.id, { prompt: 'a dog', max_tokens: 2 }, { host });
    expect(again.res.status).toBe(429);
  });

  it("holds a grant's quota across hosts: what another host leased is not served here", async () => {
    const g = await buy({ quota: { requests: 5 } });
    // Carol, licensed too, leases 4 of the 5 requests for her own gateway.
    const carol = privateKeyToAccount(generatePrivateKey());
    await licenseHost(bus, carol.address, modelId);
    const path = '/hosts/quota-leases';
    const lease = async (body: object, at = path) => {
      const raw = JSON.stringify(body);
      const auth = await signHostRequest(carol, { audience: 'access', method: 'POST', path: at, body: raw });
      const res = await fetch(`${access.url}${at}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-clopen-host-auth': auth }, body: raw });
      return { status: res.status, body: (await res.json()) as any };
    };
    const taken = await eventually(
      async () => {
        const r = await lease({ grantId: g.id, requests: 4 });
        return r.status === 200 && r;
      },
      { timeoutMs: 10_000, what: "carol's licence at access" },
    );
    expect(taken.body).toEqual({ grantId: g.id, requests: 4, tokens: null });
    const first = await call(signed(g), g.id, { prompt: 'a dog', max_tokens: 2 }, { host });
    expect(first.res.status).toBe(200);
    const second = await call(signed(g), g.id, { prompt: 'a dog', max_tokens: 2 }, { host });
    expect(second.res.status).toBe(429);
    expect(JSON.parse(second.text)).toEqual({ error: { type: 'insufficient_quota', code: 'over_quota', message: expect.stringMatching(/no quota left/) } });
    // Carol gives back what she did not use; Bob's gateway serves it.
    expect((await lease({ grantId: g.id, requests: 3 }, `${path}/release`)).body).toEqual({ grantId: g.id, requests: 3, tokens: 0 });
    // Bob's gateway asks again once its recheck interval has passed.
    await eventually(async () => (await call(signed(g), g.id, { prompt: 'a dog', max_tokens: 2 }, { host })).res.status === 200, {
      timeoutMs: 10_000,
      what: 'the released quota served by bob',
    });
    // A host not licensed for the model gets nothing.
    const stranger = privateKeyToAccount(generatePrivateKey());
    const raw = JSON.stringify({ grantId: g.id, requests: 1 });
    const auth = await signHostRequest(stranger, { audience: 'access', method: 'POST', path, body: raw });
    const refused = await fetch(`${access.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-clopen-host-auth': auth },
      body: raw,
    });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as any).details).toEqual({ reason: 'unlicensed' });
  });

  it('stops serving within seconds once its licence ends, in the OpenAI error shape', async () => {
    const g = await buy();
    expect((await call(signed(g), g.id, { prompt: 'a dog', max_tokens: 2 }, { host })).res.status).toBe(200);
    await endLicence(bus, bobLicence, 'slashed');
    const ended = Date.now();
    const refused = await eventually(
      async () => {
        const r = await call(signed(g), g.id, { prompt: 'a dog', max_tokens: 2 }, { host });
        return r.res.status === 403 && r;
      },
      { timeoutMs: 15_000, what: 'the gateway refusing after the licence ended' },
    );
    expect(Date.now() - ended).toBeLessThan(10_000);
    // Whichever sees it first: the gateway's own licence check, or access refusing the grant's quota lease.
    expect(JSON.parse(refused.text)).toEqual({
      error: { type: 'permission_error', code: 'unlicensed', message: expect.stringMatching(/ended .*slashed|no active licence/) },
    });
  });
});
