import { randomBytes } from 'node:crypto';
import { Bus, readEvents } from '@clopen/bus';
import { signHostRequest } from '@clopen/host-auth';
import { PermissionVerifier, generateUserKey, permissionString, publicKeyFromRaw, rawPublicKey, signReceipt, userPublicKeyBytes } from '@clopen/host-sdk';
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

jest.setTimeout(120_000);

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
  const bob = privateKeyToAccount(generatePrivateKey());
  const servingKey = generateUserKey();
  const dave = generateUserKey();
  let counter = 0;

  /** One request Dave sends to Bob's host, served and receipted as the host SDK does it. */
  const serve = (prompt: string, over: { servedAt?: Date } = {}) => {
    counter += 1;
    const body = JSON.stringify({ prompt });
    const header = permissionString({ bytes: Buffer.from(grant.grant, 'base64url'), issuerSignature: Buffer.from(grant.issuerSignature, 'base64url') }, dave, counter, { host: bob.address, model: modelId, body });
    const permission = verifier.verify(header, { model: modelId, body });
    return signReceipt(servingKey, 'k1', { permission, host: bob.address, requestBody: body, responseBody: `answer to ${prompt}`, tokensIn: 5, tokensOut: 7, ...over });
  };
  const report = (receipts: accessV1.UsageReceipt[]) => bus.publish('access.usage.reported', { receipts });
  const usage = async () => (await api(access.url, TEST_ADMIN_KEY, 'GET', `/grants/${grant.id}/usage`)).body;

  beforeAll(async () => {
    [db, ns, s3] = await Promise.all([createTestDatabase(), createTestBusNamespace(), startTestS3()]);
    bus = await Bus.connect({ servers: testInfra.natsUrl, producer: 'host-bob', namespace: ns.namespace });
    await bus.ensureStreams();
    storage = await spawnService('storage', serviceEnv({ db, ns, s3 }));
    modelId = (await api(storage.url, TEST_ADMIN_KEY, 'POST', '/models', { name: 'alice-gpt' })).body.id;
    access = await createService(accessService, { ...serviceEnv({ db, ns }), ACCESS_ISSUER_KEYS: `i1:${randomBytes(32).toString('base64')}` });
    const daveKey = (await api(access.url, TEST_ADMIN_KEY, 'POST', '/api-keys', { principalId: 'dave', roles: ['user'] })).body.key;
    grant = (await api(access.url, daveKey, 'POST', '/grants', { modelId, userPublicKey: userPublicKeyBytes(dave).toString('base64url'), quota: { requests: 100 }, days: 30 })).body;
    const issuers = (await api(access.url, undefined, 'GET', '/issuers')).body;
    verifier = new PermissionVerifier({ host: bob.address, issuerKeys: new Map(issuers.map((i: any) => [i.keyId, publicKeyFromRaw(Buffer.from(i.publicKey, 'base64url'))])) });
  });
  afterAll(async () => {
    await access?.close();
    await storage?.stop();
    await bus?.close();
    await Promise.allSettled([db?.drop(), ns?.cleanup(), s3?.stop()]);
  });

  it('a host registers its serving key by signing with its EVM key', async () => {
    const path = '/hosts/serving-keys';
    const body = JSON.stringify({ keyId: 'k1', publicKey: rawPublicKey(servingKey).toString('base64url') });
    const unsigned = await fetch(`${access.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(unsigned.status).toBe(401);
    const header = await signHostRequest(bob, { audience: 'access', method: 'POST', path, body });
    const res = await fetch(`${access.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-clopen-host-auth': header }, body });
    expect(res.status).toBe(201);
    expect(((await res.json()) as { hostAddress: string }).hostAddress).toBe(bob.address);
    // The same signature is not accepted twice, and one for another service is not accepted at all.
    expect((await fetch(`${access.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-clopen-host-auth': header }, body })).status).toBe(401);
    const forDistribution = await signHostRequest(bob, { audience: 'distribution', method: 'POST', path, body });
    expect((await fetch(`${access.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-clopen-host-auth': forDistribution }, body })).status).toBe(401);
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
    const forged = signReceipt(other, 'k1', { permission: { ...verifier.verify(permissionString({ bytes: Buffer.from(grant.grant, 'base64url'), issuerSignature: Buffer.from(grant.issuerSignature, 'base64url') }, dave, ++counter, { host: bob.address, model: modelId, body: 'x' }), { model: modelId, body: 'x' }) }, host: bob.address, requestBody: 'x', responseBody: 'y', tokensIn: 1, tokensOut: 1 });

    const userLie = serve('f');
    const b2 = fromBinary(accessV1.ReceiptBodySchema, userLie.body);
    b2.requestSha256 = Buffer.alloc(32, 1); // a request the user never signed
    const lie = signReceipt(servingKey, 'k1', { permission: { grantId: b2.grantId, modelId, counter: b2.counter, userSignature: b2.userSignature }, host: bob.address, requestBody: 'never sent', responseBody: 'r', tokensIn: 1, tokensOut: 1 });

    const future = serve('g', { servedAt: new Date(Date.now() + 3600_000) });
    const unknownKey = create(accessV1.UsageReceiptSchema, { ...serve('h'), hostKeyId: 'k9' });
    await report([inflated, forged, lie, future, unknownKey, create(accessV1.UsageReceiptSchema, { body: Buffer.from('junk'), hostKeyId: 'k1' })]);

    const rejected = await eventually(async () => {
      const e = await readEvents(bus, 'access.usage.rejected');
      return e.length >= 6 && e;
    }, { timeoutMs: 10_000 });
    expect(rejected.map((e) => e.payload.reason).sort()).toEqual(['bad_host_signature', 'bad_host_signature', 'bad_user_signature', 'from_the_future', 'malformed', 'unknown_host_key']);
    expect((await usage()).requests).toBe(before);
  });

  it('closes an epoch: one root over its receipts, totals per model, host and user, and proofs that verify', async () => {
    const closed = await api(access.url, TEST_ADMIN_KEY, 'POST', '/admin/epochs/close');
    expect(closed.status).toBe(201);
    expect(closed.body).toMatchObject({ number: 1, receiptCount: 4, root: expect.stringMatching(/^0x[0-9a-f]{64}$/) });
    expect((await api(access.url, TEST_ADMIN_KEY, 'POST', '/admin/epochs/close')).status).toBe(409);
    const [event] = await eventually(async () => (await readEvents(bus, 'access.epoch.closed')).length === 1 && readEvents(bus, 'access.epoch.closed'));
    expect(event.payload).toMatchObject({ epoch: 1n, receiptRoot: closed.body.root, receiptCount: 4n });
    expect(event.payload.totals).toEqual([expect.objectContaining({ modelId, hostAddress: bob.address, userId: 'dave', requests: 4n, tokensIn: 20n, tokensOut: 28n })]);

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
});
