import { randomBytes } from 'node:crypto';
import { Bus, readEvents } from '@clopen/bus';
import { PermissionError, PermissionVerifier, RevocationFeed, generateUserKey, permissionString, publicKeyFromRaw, userPublicKeyBytes } from '@clopen/host-sdk';
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
import { accessService } from '../src/access.service';

const HOST = '0x1737C8D529A6692bDFA1baaFA3106C1028F29ACc';
const seed1 = randomBytes(32).toString('base64');
const seed2 = randomBytes(32).toString('base64');

describe('access: grants and permission strings', () => {
  let db: TestDatabase;
  let ns: TestBusNamespace;
  let s3: TestS3;
  let bus: Bus;
  let storage: ServiceProcess;
  let access: RunningService<any>;
  let daveKey: string;
  let modelId: string;
  const dave = generateUserKey();

  const start = (keys: string) => createService(accessService, { ...serviceEnv({ db, ns }), ACCESS_ISSUER_KEYS: keys });
  const verifierFromIssuers = async (revoked?: RevocationFeed) => {
    const issuers = (await api(access.url, undefined, 'GET', '/issuers')).body as { keyId: string; publicKey: string }[];
    return new PermissionVerifier({
      host: HOST,
      issuerKeys: new Map(issuers.map((i) => [i.keyId, publicKeyFromRaw(Buffer.from(i.publicKey, 'base64url'))])),
      revoked,
    });
  };
  const buy = (body: Record<string, unknown> = {}, key = daveKey) =>
    api(access.url, key, 'POST', '/grants', {
      modelId,
      userPublicKey: userPublicKeyBytes(dave).toString('base64url'),
      quota: { requests: 100 },
      days: 30,
      ...body,
    });
  const header = (g: { grant: string; issuerSignature: string }, counter: number, body = '{"prompt":"hi"}') =>
    permissionString({ bytes: Buffer.from(g.grant, 'base64url'), issuerSignature: Buffer.from(g.issuerSignature, 'base64url') }, dave, counter, {
      host: HOST,
      model: modelId,
      body,
    });
  const reason = (f: () => unknown) => {
    try {
      f();
      return 'accepted';
    } catch (e) {
      return (e as PermissionError).reason;
    }
  };

  beforeAll(async () => {
    [db, ns, s3] = await Promise.all([createTestDatabase(), createTestBusNamespace(), startTestS3()]);
    bus = await Bus.connect({ servers: testInfra.natsUrl, producer: 'access-test', namespace: ns.namespace });
    await bus.ensureStreams();
    storage = await spawnService('storage', serviceEnv({ db, ns, s3 }));
    modelId = (await api(storage.url, TEST_ADMIN_KEY, 'POST', '/models', { name: 'alice-gpt' })).body.id;
    access = await start(`i1:${seed1}`);
    daveKey = (await api(access.url, TEST_ADMIN_KEY, 'POST', '/api-keys', { principalId: 'dave', roles: ['user'] })).body.key;
  });
  afterAll(async () => {
    await access?.close();
    await storage?.stop();
    await bus?.close();
    await Promise.allSettled([db?.drop(), ns?.cleanup(), s3?.stop()]);
  });

  it('refuses bad purchases with the reason and stores nothing', async () => {
    expect((await buy({ modelId: '00000000-0000-7000-8000-000000000000' })).status).toBe(404);
    expect((await buy({ userPublicKey: 'c2hvcnQ' })).status).toBe(400);
    expect((await buy({ quota: {} })).body.detail).toMatch(/request or token quota/);
    expect((await buy({ days: 4000 })).status).toBe(400);
    expect((await buy({ hosts: ['0x12'] })).status).toBe(400);
    const owner = (await api(access.url, TEST_ADMIN_KEY, 'POST', '/api-keys', { principalId: 'alice', roles: ['owner'] })).body.key;
    expect((await buy({}, owner)).status).toBe(403);
    const [{ count }] = await access.ctx.dataSource!.query('SELECT count(*)::int AS count FROM grants');
    expect(count).toBe(0);
  });

  it("issues a grant bound to the user's key that a host verifies with the published issuer keys", async () => {
    const res = await buy({ hosts: [HOST] });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ modelId, userId: 'dave', hosts: [HOST], quota: { requests: 100, tokens: 0 }, issuerKeyId: 'i1' });
    const verifier = await verifierFromIssuers();
    expect(verifier.verify(header(res.body, 1), { model: modelId, body: '{"prompt":"hi"}' })).toMatchObject({
      grantId: res.body.id,
      userId: 'dave',
      requestsLeft: 99n,
    });
    expect(reason(() => verifier.verify(header(res.body, 1), { model: modelId, body: '{"prompt":"hi"}' }))).toBe('replayed');
    const [event] = await eventually(async () => (await readEvents(bus, 'access.grant.issued')).length === 1 && readEvents(bus, 'access.grant.issued'));
    expect(event.payload).toMatchObject({ grantId: res.body.id, userId: 'dave', quotaRequests: 100n });
    // Another user cannot read it.
    const eve = (await api(access.url, TEST_ADMIN_KEY, 'POST', '/api-keys', { principalId: 'eve', roles: ['user'] })).body.key;
    expect((await api(access.url, eve, 'GET', `/grants/${res.body.id}`)).status).toBe(404);
    expect((await api(access.url, daveKey, 'GET', `/grants/${res.body.id}`)).body.grant).toBe(res.body.grant);
  });

  it('a revoked grant is refused by a following host within seconds', async () => {
    const feed = await RevocationFeed.follow(bus);
    try {
      const grant = (await buy()).body;
      const verifier = await verifierFromIssuers(feed);
      expect(reason(() => verifier.verify(header(grant, 1), { model: modelId, body: '{"prompt":"hi"}' }))).toBe('accepted');
      const revoked = await api(access.url, daveKey, 'POST', `/grants/${grant.id}/revoke`, { reason: 'key lost' });
      expect(revoked.body.revokedReason).toBe('key lost');
      const t = Date.now();
      await eventually(() => feed.isRevoked(grant.id), { timeoutMs: 5_000, intervalMs: 20 });
      expect(Date.now() - t).toBeLessThan(5_000);
      expect(reason(() => verifier.verify(header(grant, 2), { model: modelId, body: '{"prompt":"hi"}' }))).toBe('revoked');
      // A host starting later learns it from the stream's history.
      const late = await RevocationFeed.follow(bus);
      await eventually(() => late.isRevoked(grant.id), { timeoutMs: 5_000 });
      await late.close();
    } finally {
      await feed.close();
    }
  });

  it('rotates issuer keys: new grants signed by the new key, old grants valid until they expire', async () => {
    const old = (await buy()).body;
    await access.close();
    access = await start(`i2:${seed2},i1:${seed1}`);
    const issuers = (await api(access.url, undefined, 'GET', '/issuers')).body;
    expect(issuers.map((i: any) => [i.keyId, i.current])).toEqual([
      ['i2', true],
      ['i1', false],
    ]);
    const fresh = (await buy()).body;
    expect(fresh.issuerKeyId).toBe('i2');
    const verifier = await verifierFromIssuers();
    expect(reason(() => verifier.verify(header(old, 1, 'x'), { model: modelId, body: 'x' }))).toBe('accepted');
    expect(reason(() => verifier.verify(header(fresh, 1, 'x'), { model: modelId, body: 'x' }))).toBe('accepted');
  });
});
