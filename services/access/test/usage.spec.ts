import { randomBytes } from 'node:crypto';
import { Bus, encodeEnvelope, newEnvelope, readEvents } from '@clopen/bus';
import { signHostRequest } from '@clopen/host-auth';
import {
  PermissionVerifier,
  RejectionFeed,
  decodePermission,
  generateUserKey,
  permissionString,
  publicKeyFromRaw,
  rawPublicKey,
  signReceipt,
  userPublicKeyBytes,
  type UsageRejection,
} from '@clopen/host-sdk';
import { verifyMerkleProof } from '@clopen/merkle';
import { accessV1, create, fromBinary, toBinary } from '@clopen/proto';
import { createService, type RunningService } from '@clopen/service-kit';
import {
  TEST_ADMIN_KEY,
  api,
  createTestBusNamespace,
  createTestDatabase,
  eventually,
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
import { accessService } from '../src/access.service';
import { receiptLeaf } from '../src/epochs/epochs.service';
import { QuotaHandouts } from '../src/quota/quota-leases';
import { DataSource } from 'typeorm';
import { endLicence, licenseHost } from '@clopen/testing';

/** Usage receipts from hosts: signed twice, counted once, refused with reasons. */
describe('access: usage receipts', () => {
  let db: TestDatabase;
  let ns: TestBusNamespace;
  let s3: TestS3;
  let bus: Bus;
  let storage: ServiceProcess;
  let access: RunningService<any>;
  let modelId: string;
  let grant: any;
  let verifier: PermissionVerifier;
  let daveKey: string;
  let issuerKeys: Map<string, ReturnType<typeof publicKeyFromRaw>>;
  const bob = privateKeyToAccount(generatePrivateKey());
  const carol = privateKeyToAccount(generatePrivateKey());
  const servingKey = generateUserKey();
  const carolKey = generateUserKey();
  const dave = generateUserKey();
  const counters = new Map<string, number>();

  const next = (g: any) => {
    const counter = (counters.get(g.id) ?? 0) + 1;
    counters.set(g.id, counter);
    return counter;
  };
  /** One request Dave sends on a grant to a host, served and receipted as the host SDK does it. */
  const serveOn = (g: any, host: typeof bob, key: typeof servingKey, prompt: string, over: { servedAt?: Date } = {}) => {
    const counter = next(g);
    const body = JSON.stringify({ prompt });
    const header = permissionString({ bytes: Buffer.from(g.grant, 'base64url'), issuerSignature: Buffer.from(g.issuerSignature, 'base64url') }, dave, counter, {
      host: host.address,
      model: modelId,
      body,
    });
    // A host may skip its own checks (and lie): access relies on the signatures alone.
    const { message } = decodePermission(header);
    const permission = { grantId: g.id, modelId, counter: message.counter, userSignature: message.userSignature };
    return signReceipt(key, 'k1', {
      permission,
      host: host.address,
      requestBody: body,
      responseBody: `answer to ${prompt}`,
      tokensIn: 5,
      tokensOut: 7,
      ...over,
    });
  };
  const serve = (prompt: string, over: { servedAt?: Date } = {}) => serveOn(grant, bob, servingKey, prompt, over);
  const report = (receipts: accessV1.UsageReceipt[]) => bus.publish('access.usage.reported', { receipts });
  const usageOf = async (id: string) => (await api(access.url, TEST_ADMIN_KEY, 'GET', `/grants/${id}/usage`)).body;
  const usage = () => usageOf(grant.id);
  const buy = async (terms: object) =>
    (await api(access.url, daveKey, 'POST', '/grants', { modelId, userPublicKey: userPublicKeyBytes(dave).toString('base64url'), days: 30, ...terms })).body;
  const hostGet = async (host: typeof bob, path: string) => {
    const header = await signHostRequest(host, { audience: 'access', method: 'GET', path, body: '' });
    const res = await fetch(`${access.url}${path}`, { headers: { 'x-clopen-host-auth': header } });
    return { status: res.status, body: (await res.json()) as any };
  };
  const registerKey = async (host: typeof bob, key: typeof servingKey, extra: object = {}) => {
    const path = '/hosts/serving-keys';
    const body = JSON.stringify({ keyId: 'k1', publicKey: rawPublicKey(key).toString('base64url'), ...extra });
    const header = await signHostRequest(host, { audience: 'access', method: 'POST', path, body });
    const res = await fetch(`${access.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-clopen-host-auth': header }, body });
    return { status: res.status, body: (await res.json()) as any };
  };
  /** The reasons of the rejections published since `from` (an index into the subject's events). */
  const rejectedSince = async (from: number, n: number) =>
    (
      await eventually(
        async () => {
          const e = await readEvents(bus, 'access.usage.rejected');
          return e.length >= from + n && e.slice(from);
        },
        { timeoutMs: 10_000, what: `${n} rejections` },
      )
    ).map((e) => e.payload);
  const rejectionCount = async () => (await readEvents(bus, 'access.usage.rejected')).length;

  beforeAll(async () => {
    [db, ns, s3] = await Promise.all([createTestDatabase(), createTestBusNamespace(), startTestS3()]);
    bus = await Bus.connect({ servers: testInfra.natsUrl, producer: 'host-bob', namespace: ns.namespace });
    await bus.ensureStreams();
    storage = await spawnService('storage', serviceEnv({ db, ns, s3 }));
    modelId = (await api(storage.url, TEST_ADMIN_KEY, 'POST', '/models', { name: 'alice-gpt' })).body.id;
    // A short grace after a licence's end or a revocation, so that a backdated report can be tried here.
    access = await createService(accessService, {
      ...serviceEnv({ db, ns }),
      ACCESS_ISSUER_KEYS: `i1:${randomBytes(32).toString('base64')}`,
      ACCESS_REPORT_GRACE_MS: '6000',
    });
    daveKey = (await api(access.url, TEST_ADMIN_KEY, 'POST', '/api-keys', { principalId: 'dave', roles: ['user'] })).body.key;
    grant = await buy({ quota: { requests: 100 } });
    const issuers = (await api(access.url, undefined, 'GET', '/issuers')).body;
    issuerKeys = new Map(issuers.map((i: any) => [i.keyId, publicKeyFromRaw(Buffer.from(i.publicKey, 'base64url'))]));
    verifier = new PermissionVerifier({ host: bob.address, issuerKeys });
    await licenseHost(bus, bob.address, modelId);
  });
  afterAll(async () => {
    await access?.close();
    await storage?.stop();
    await bus?.close();
    await Promise.allSettled([db?.drop(), ns?.cleanup(), s3?.stop()]);
  });

  it('only a licensed host registers a serving key', async () => {
    const unlicensed = await registerKey(carol, carolKey);
    expect(unlicensed.status).toBe(403);
    expect(unlicensed.body.detail).toMatch(/no active licence/);
    await eventually(async () => (await registerKey(bob, servingKey, { modelId })).status === 201, {
      timeoutMs: 10_000,
      what: "bob's licence reaching access",
    });
    expect((await registerKey(bob, servingKey, { modelId: 'another-model' })).status).toBe(403);
  });

  it('a host registers its serving key by signing with its EVM key', async () => {
    const path = '/hosts/serving-keys';
    const body = JSON.stringify({ keyId: 'k1', publicKey: rawPublicKey(servingKey).toString('base64url') });
    const unsigned = await fetch(`${access.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(unsigned.status).toBe(401);
    const header = await signHostRequest(bob, { audience: 'access', method: 'POST', path, body });
    const res = await fetch(`${access.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-clopen-host-auth': header }, body });
    expect(res.status).toBe(201);
    expect(((await res.json()) as { hostAddress: string }).hostAddress).toBe(bob.address); // registered before: the same key again
    // The same signature is not accepted twice, and one for another service is not accepted at all.
    expect(
      (await fetch(`${access.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-clopen-host-auth': header }, body })).status,
    ).toBe(401);
    const forDistribution = await signHostRequest(bob, { audience: 'distribution', method: 'POST', path, body });
    expect(
      (await fetch(`${access.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-clopen-host-auth': forDistribution }, body }))
        .status,
    ).toBe(401);
  });

  it('gives a host a session token for its frequent calls, never for changing its keys', async () => {
    const path = '/hosts/sessions';
    const header = await signHostRequest(bob, { audience: 'access', method: 'POST', path, body: '' });
    const opened = await fetch(`${access.url}${path}`, { method: 'POST', headers: { 'x-clopen-host-auth': header } });
    expect(opened.status).toBe(201);
    const { token, expiresAt } = (await opened.json()) as { token: string; expiresAt: number };
    expect(expiresAt * 1000).toBeGreaterThan(Date.now());
    const withToken = (p: string, init: RequestInit = {}) =>
      fetch(`${access.url}${p}`, { ...init, headers: { 'content-type': 'application/json', 'x-clopen-host-session': token, ...(init.headers ?? {}) } });
    // The gateway's pick-up of its opening blocks (it also marks the host as up).
    const pickUp = () => withToken('/hosts/quota-leases/handouts', { method: 'POST', body: '{}' });
    const leasedOf = async (id: string) =>
      Number((await access.app.get(DataSource).query('SELECT requests FROM grant_leases WHERE grant_id = $1', [id]))[0]?.requests ?? 0);
    const licences = await withToken('/hosts/licences');
    expect(licences.status).toBe(200);
    expect(((await licences.json()) as any[]).some((l) => l.modelId === modelId && l.active)).toBe(true);
    const lease = await withToken('/hosts/quota-leases', { method: 'POST', body: JSON.stringify({ grantId: grant.id, requests: 0 }) });
    expect(lease.status).toBe(200);
    // an opening block of each grant issued while this licensed host is up (it asks for handouts), handed once
    expect((await pickUp()).status).toBe(200);
    const opening = await buy({ quota: { requests: 40 } });
    const picked = await pickUp();
    expect(picked.status).toBe(200);
    expect(((await picked.json()) as any[]).find((h) => h.grantId === opening.id)).toEqual({ grantId: opening.id, requests: 8, tokens: null });
    expect(((await (await pickUp()).json()) as any[]).find((h) => h.grantId === opening.id)).toBeUndefined();
    // a block its host never picks up goes back to the grant
    const unpicked = await buy({ quota: { requests: 40 } });
    expect(await leasedOf(unpicked.id)).toBe(8);
    await access.app.get(DataSource).query("UPDATE quota_leases SET handed_at = now() - interval '1 hour' WHERE grant_id = $1", [unpicked.id]);
    await access.app.get(QuotaHandouts).takeBackStale();
    expect(await leasedOf(unpicked.id)).toBe(0);
    expect(((await (await pickUp()).json()) as any[]).find((h) => h.grantId === unpicked.id)).toBeUndefined();
    // a gateway that leaves gives back what it did not pick up, and gets no more
    await pickUp();
    const pending = await buy({ quota: { requests: 40 } });
    expect(await leasedOf(pending.id)).toBe(8);
    expect(await (await withToken('/hosts/quota-leases/handouts', { method: 'POST', body: '{"leaving":true}' })).json()).toEqual([]);
    expect(await leasedOf(pending.id)).toBe(0);
    expect(await leasedOf((await buy({ quota: { requests: 40 } })).id)).toBe(0);
    const register = await withToken('/hosts/serving-keys', {
      method: 'POST',
      body: JSON.stringify({ keyId: 'k9', publicKey: rawPublicKey(generateUserKey()).toString('base64url') }),
    });
    expect(register.status).toBe(401);
    expect(await withToken('/hosts/licences', { headers: { 'x-clopen-host-session': `${token.slice(0, -2)}AA` } }).then((r) => r.status)).toBe(401);
  });

  it('counts receipts once, however often they are reported', async () => {
    const receipts = [serve('a'), serve('b'), serve('c')];
    await report(receipts);
    await report([receipts[1], receipts[2], serve('d')]);
    await eventually(async () => (await usage()).requests === 4, { timeoutMs: 10_000, what: 'four counted requests' });
    await new Promise((r) => setTimeout(r, 300));
    expect(await usage()).toEqual({ requests: 4, tokensIn: 20, tokensOut: 28 });
  });

  it('refuses bad receipts with their reasons and counts none of them', async () => {
    const before = (await usage()).requests;
    const tamperedHost = serve('e');
    const body = fromBinary(accessV1.ReceiptBodySchema, tamperedHost.body);
    body.tokensOut = 9999;
    const inflated = create(accessV1.UsageReceiptSchema, { ...tamperedHost, body: toBinary(accessV1.ReceiptBodySchema, body) });

    const other = generateUserKey();
    const forged = signReceipt(other, 'k1', {
      permission: {
        ...verifier.verify(
          permissionString(
            { bytes: Buffer.from(grant.grant, 'base64url'), issuerSignature: Buffer.from(grant.issuerSignature, 'base64url') },
            dave,
            next(grant),
            { host: bob.address, model: modelId, body: 'x' },
          ),
          { model: modelId, body: 'x' },
        ),
      },
      host: bob.address,
      requestBody: 'x',
      responseBody: 'y',
      tokensIn: 1,
      tokensOut: 1,
    });

    const userLie = serve('f');
    const b2 = fromBinary(accessV1.ReceiptBodySchema, userLie.body);
    b2.requestSha256 = Buffer.alloc(32, 1); // a request the user never signed
    const lie = signReceipt(servingKey, 'k1', {
      permission: { grantId: b2.grantId, modelId, counter: b2.counter, userSignature: b2.userSignature },
      host: bob.address,
      requestBody: 'never sent',
      responseBody: 'r',
      tokensIn: 1,
      tokensOut: 1,
    });

    const future = serve('g', { servedAt: new Date(Date.now() + 3600_000) });
    const unknownKey = create(accessV1.UsageReceiptSchema, { ...serve('h'), hostKeyId: 'k9' });
    await report([inflated, forged, lie, future, unknownKey, create(accessV1.UsageReceiptSchema, { body: Buffer.from('junk'), hostKeyId: 'k1' })]);

    const rejected = await rejectedSince(0, 6);
    expect(rejected.map((e) => e.reason).sort()).toEqual([
      'bad_host_signature',
      'bad_host_signature',
      'bad_user_signature',
      'from_the_future',
      'malformed',
      'unknown_host_key',
    ]);
    expect((await usage()).requests).toBe(before);
  });

  it('closes an epoch: one root over its receipts, totals per model, host and user, and proofs that verify', async () => {
    const closed = await api(access.url, TEST_ADMIN_KEY, 'POST', '/admin/epochs/close');
    expect(closed.status).toBe(201);
    expect(closed.body).toMatchObject({ number: 1, receiptCount: 4, root: expect.stringMatching(/^0x[0-9a-f]{64}$/) });
    expect((await api(access.url, TEST_ADMIN_KEY, 'POST', '/admin/epochs/close')).status).toBe(409);
    const [event] = await eventually(async () => (await readEvents(bus, 'access.epoch.closed')).length === 1 && readEvents(bus, 'access.epoch.closed'));
    expect(event.payload).toMatchObject({ epoch: 1n, receiptRoot: closed.body.root, receiptCount: 4n });
    expect(event.payload.totals).toEqual([
      expect.objectContaining({ modelId, hostAddress: bob.address, userId: 'dave', requests: 4n, tokensIn: 20n, tokensOut: 28n }),
    ]);

    const hostKey = (await api(access.url, TEST_ADMIN_KEY, 'POST', '/api-keys', { principalId: bob.address, roles: ['host'] })).body.key;
    const p = await api(access.url, hostKey, 'GET', `/epochs/proof?grantId=${grant.id}&counter=2`);
    expect(p.status).toBe(200);
    const leaf = receiptLeaf(Buffer.from(p.body.receipt, 'base64url'));
    expect(`0x${leaf.toString('hex')}`).toBe(p.body.leaf);
    expect(verifyMerkleProof(closed.body.root, leaf, p.body.proof)).toBe(true);
    expect(verifyMerkleProof(closed.body.root, receiptLeaf(Buffer.from('forged')), p.body.proof)).toBe(false);
    expect((await api(access.url, hostKey, 'GET', `/epochs/proof?grantId=${grant.id}&counter=999`)).status).toBe(404);
    const listed = await api(access.url, hostKey, 'GET', '/epochs');
    expect(listed.body).toEqual([expect.objectContaining({ number: 1, receiptCount: 4, root: closed.body.root })]);
    expect((await api(access.url, hostKey, 'GET', '/epochs?before=1')).body).toEqual([]);
    expect((await api(access.url, hostKey, 'GET', '/epochs?limit=0')).status).toBe(400);
  });
  it('refuses receipts of a host the grant does not name', async () => {
    const from = await rejectionCount();
    const onlyDead = await buy({ quota: { requests: 10 }, hosts: ['0x000000000000000000000000000000000000dEaD'] });
    await report([serveOn(onlyDead, bob, servingKey, 'x')]);
    const [r] = await rejectedSince(from, 1);
    expect(r).toMatchObject({ grantId: onlyDead.id, hostAddress: bob.address, reason: 'host_not_in_grant' });
    expect((await usageOf(onlyDead.id)).requests).toBe(0);
  });

  it('hands a partner the refusals of what it reported, and no other partner', async () => {
    const from = await rejectionCount();
    const onlyDead = await buy({ quota: { requests: 10 }, hosts: ['0x000000000000000000000000000000000000dEaD'] });
    const acme: UsageRejection[] = [];
    const beta: UsageRejection[] = [];
    const feeds = [await RejectionFeed.follow(bus, 'acme', (r) => void acme.push(r)), await RejectionFeed.follow(bus, 'beta', (r) => void beta.push(r))];
    try {
      // what the partner acme's account publishes reaches access as access.usage.reported.acme (infra/nats)
      const env = newEnvelope('access.usage.reported', { receipts: [serveOn(onlyDead, bob, servingKey, 'via acme')] }, { producer: 'acme' });
      await bus.publishRaw(bus.subject('access.usage.reported.acme'), encodeEnvelope(env), env.id);
      const [r] = await rejectedSince(from, 1);
      expect(r).toMatchObject({ grantId: onlyDead.id, reason: 'host_not_in_grant', partner: 'acme' });
      await eventually(() => acme.length === 1, { what: "acme's copy of the refusal" });
      expect(acme[0]).toMatchObject({ grantId: onlyDead.id, counter: r.counter, reason: 'host_not_in_grant', partner: 'acme' });
      // the platform's own report of a refusal goes to no partner
      await report([serveOn(onlyDead, bob, servingKey, 'direct')]);
      await rejectedSince(from, 2);
    } finally {
      for (const f of feeds) await f.close();
    }
    // a feed that was away resumes where it stopped, and the copies stay apart per partner
    const again: UsageRejection[] = [];
    const feed = await RejectionFeed.follow(bus, 'acme', (r) => void again.push(r));
    await new Promise((r) => setTimeout(r, 500));
    await feed.close();
    expect([acme.length, beta.length, again.length]).toEqual([1, 0, 0]);
    const { state } = await bus.jsm.streams.info(bus.stream('PARTNERS'), { subjects_filter: '>' });
    expect(Object.keys(state.subjects ?? {})).toEqual([bus.subject('access.usage.rejected.acme')]);
  });

  it('holds the quota across hosts: a 3-request grant served by two hosts counts three', async () => {
    const licence = await licenseHost(bus, carol.address, modelId);
    await eventually(async () => (await registerKey(carol, carolKey, { modelId })).status === 201, { timeoutMs: 10_000, what: "carol's licence" });
    const from = await rejectionCount();
    const small = await buy({ quota: { requests: 3 } });
    const served = [
      serveOn(small, bob, servingKey, '1'),
      serveOn(small, carol, carolKey, '2'),
      serveOn(small, bob, servingKey, '3'),
      serveOn(small, carol, carolKey, '4'),
      serveOn(small, bob, servingKey, '5'),
    ];
    await Promise.all([report([served[0], served[2], served[4]]), report([served[1], served[3]])]);
    const rejected = await rejectedSince(from, 2);
    expect(rejected.map((r) => r.reason)).toEqual(['over_quota', 'over_quota']);
    expect((await usageOf(small.id)).requests).toBe(3);
    // Reported again, the counted ones stay counted once and the refused ones stay refused.
    await report(served);
    await rejectedSince(from, 4);
    expect((await usageOf(small.id)).requests).toBe(3);
    // A token quota holds the same way.
    const tokens = await buy({ quota: { tokens: 30 } }); // 12 tokens a request: two fit
    await report([serveOn(tokens, bob, servingKey, 'a'), serveOn(tokens, carol, carolKey, 'b'), serveOn(tokens, bob, servingKey, 'c')]);
    expect((await rejectedSince(from, 5))[4]).toMatchObject({ grantId: tokens.id, reason: 'over_quota' });
    expect((await usageOf(tokens.id)).tokensIn).toBe(10);
    await endLicence(bus, licence, 'unstaked');
  });

  it('refuses what an unlicensed host served, and takes back what it served after its licence ended', async () => {
    const dan = privateKeyToAccount(generatePrivateKey());
    const danKey = generateUserKey();
    const licence = await licenseHost(bus, dan.address, modelId);
    await eventually(async () => (await registerKey(dan, danKey, { modelId })).status === 201, { timeoutMs: 10_000, what: "dan's licence" });
    const g = await buy({ quota: { requests: 100 } });
    const start = new Date(g.notBefore).getTime();
    await new Promise((r) => setTimeout(r, Math.max(0, start + 3_000 - Date.now())));
    const from = await rejectionCount();
    // Served while licensed, then after a slash the host had not yet heard of: both counted at first.
    const before = serveOn(g, dan, danKey, 'before', { servedAt: new Date(start + 500) });
    const after = serveOn(g, dan, danKey, 'after', { servedAt: new Date(start + 2_500) });
    await report([before, after]);
    await eventually(async () => (await usageOf(g.id)).requests === 2, { timeoutMs: 10_000, what: 'two counted' });
    await endLicence(bus, licence, 'slashed', new Date(start + 1_500));
    const [taken] = await rejectedSince(from, 1);
    expect(taken).toMatchObject({ grantId: g.id, counter: 2n, hostAddress: dan.address, reason: 'licence_ended' });
    expect((await usageOf(g.id)).requests).toBe(1);
    // From then on its receipts are refused, and it cannot register another key.
    await report([serveOn(g, dan, danKey, 'later')]);
    expect((await rejectedSince(from, 2))[1]).toMatchObject({ reason: 'unlicensed', hostAddress: dan.address });
    expect((await usageOf(g.id)).requests).toBe(1);
    expect((await registerKey(dan, generateUserKey())).status).toBe(403);
    // Dating a receipt before the slash does not help once the grace after it has passed.
    await new Promise((r) => setTimeout(r, Math.max(0, start + 1_500 + 6_200 - Date.now())));
    await report([serveOn(g, dan, danKey, 'backdated', { servedAt: new Date(start + 1_000) })]);
    expect((await rejectedSince(from, 3))[2]).toMatchObject({ reason: 'unlicensed', message: expect.stringMatching(/counts only if reported within 6 s/) });
    expect((await usageOf(g.id)).requests).toBe(1);
    // The host reads why, over REST, signed with its EVM key.
    const listed = await hostGet(dan, '/hosts/usage-rejections');
    expect(listed.status).toBe(200);
    expect(listed.body.map((r: any) => r.reason)).toEqual(['licence_ended', 'unlicensed', 'unlicensed']);
    expect((await hostGet(dan, `/hosts/usage-rejections?after=${listed.body[1].id}&reason=unlicensed`)).body).toHaveLength(1);
    expect((await hostGet(dan, '/hosts/usage-rejections?reason=nonsense')).status).toBe(400);
  });

  it('refuses what was served after a revocation beyond the clock skew', async () => {
    const g = await buy({ quota: { requests: 100 } });
    const revoked = await api(access.url, daveKey, 'POST', `/grants/${g.id}/revoke`, { reason: 'stolen key' });
    expect(revoked.status).toBe(200);
    const at = new Date(revoked.body.revokedAt).getTime();
    const from = await rejectionCount();
    // 2 s after: within the 5 s skew, counted; 8 s after (a minute's grace used to count it): refused.
    await new Promise((r) => setTimeout(r, Math.max(0, at + 4_000 - Date.now()))); // so that 8 s after is not in the future
    await report([
      serveOn(g, bob, servingKey, 'just', { servedAt: new Date(at + 2_000) }),
      serveOn(g, bob, servingKey, 'late', { servedAt: new Date(at + 8_000) }),
    ]);
    expect((await rejectedSince(from, 1))[0]).toMatchObject({ grantId: g.id, counter: 2n, reason: 'revoked' });
    expect((await usageOf(g.id)).requests).toBe(1);
  });
});
