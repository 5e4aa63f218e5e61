import { sign } from 'node:crypto';
import { appendFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Bus } from '@clopen/bus';
import { signHostRequest } from '@clopen/host-auth';
import { generateUserKey, privateKeyFromSeed, rawPublicKey, receiptBody, requestDigest, signReceiptBatch } from '@clopen/host-sdk';
import type { accessV1 } from '@clopen/proto';
import {
  TEST_ADMIN_KEY,
  api,
  createTestBusNamespace,
  createTestDatabase,
  createTestRedisPrefix,
  eventually,
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
import { clopen, cuttingProxy, modelFolder } from './harness';

const HOST = '0x1737C8D529A6692bDFA1baaFA3106C1028F29ACc';

/** The CLI against storage, distribution and access running on real PostgreSQL, NATS, Redis and S3. */
describe('clopen against the running services', () => {
  let db: TestDatabase;
  let ns: TestBusNamespace;
  let s3: TestS3;
  let redis: { prefix: string; cleanup(): Promise<void> };
  let storage: ServiceProcess;
  let distribution: ServiceProcess;
  let access: ServiceProcess;
  let env: Record<string, string>;
  let ownerKey: string;
  let modelId: string;
  let versionId: string;
  const folder = modelFolder(3 * 1024 * 1024);

  beforeAll(async () => {
    [db, ns, s3, redis] = await Promise.all([createTestDatabase(), createTestBusNamespace(), startTestS3(), createTestRedisPrefix()]);
    const base = { ...serviceEnv({ db, ns }), REDIS_URL: testInfra.redisUrl };
    storage = await spawnService('storage', { ...base, ...s3.env });
    [distribution, access] = await Promise.all([
      spawnService('distribution', {
        ...base,
        DISTRIBUTION_POOL_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}`,
        EMBEDDING_JOB_KEYS: `j1:${Buffer.alloc(32, 2).toString('base64')}`,
        STORAGE_URL: storage.url,
        STORAGE_API_KEY: TEST_ADMIN_KEY,
        BULLMQ_PREFIX: redis.prefix.replace(/:$/, ''),
      }),
      spawnService('access', { ...base, ACCESS_ISSUER_KEYS: `i1:${Buffer.alloc(32, 3).toString('base64')}` }),
    ]);
    env = { CLOPEN_STORAGE_URL: storage.url, CLOPEN_DISTRIBUTION_URL: distribution.url, CLOPEN_ACCESS_URL: access.url, CLOPEN_API_KEY: TEST_ADMIN_KEY };
    ownerKey = (await api(storage.url, TEST_ADMIN_KEY, 'POST', '/api-keys', { principalId: 'alice', roles: ['owner'] })).body.key;
  });
  afterAll(async () => {
    await Promise.allSettled([storage?.stop(), distribution?.stop(), access?.stop()]);
    await Promise.allSettled([db?.drop(), ns?.cleanup(), s3?.stop(), redis?.cleanup()]);
    rmSync(folder, { recursive: true, force: true });
  });

  it('creates and lists models, as a table and as one JSON document', async () => {
    const created = await clopen(['models', 'create', '--name', 'alice-gpt', '--description', 'a tiny test model', '--json', '--api-key', ownerKey], env);
    expect(created).toMatchObject({ code: 0, stderr: '' });
    expect(created.json()).toMatchObject({ name: 'alice-gpt', ownerId: 'alice' });
    modelId = created.json().id;

    const table = await clopen(['models', 'list'], env);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^ID\s+NAME\s+OWNER/);
    expect(table.stdout).toMatch(new RegExp(`${modelId}\\s+alice-gpt\\s+alice`));
    expect((await clopen(['models', 'list', '--json', '--owner', 'alice'], env)).json()).toEqual([expect.objectContaining({ id: modelId })]);
  });

  it('uploads a folder with a progress bar; an interrupted upload is finished by running the same command again', async () => {
    const upload = ['models', 'upload', folder, '--model', modelId, '--label', '1.0.0', '--licence', '{"terms":"test"}', '--api-key', ownerKey];
    // The network fails a megabyte into the 3 MiB of weights: an error that says what to do, nothing stored.
    const proxy = await cuttingProxy(storage.url, 1024 * 1024);
    try {
      const cut = await clopen(upload, { ...env, CLOPEN_STORAGE_URL: proxy.url });
      expect(proxy.cuts).toBe(1);
      expect(cut.code).toBe(1);
      expect(cut.stderr).toMatch(/^error: storage at .* cut the connection/);
      expect(cut.stderr).toContain('run the same command again');
      expect(cut.stderr).not.toMatch(/\n\s+at /);
    } finally {
      await proxy.close();
    }
    expect((await api(storage.url, ownerKey, 'GET', `/models/${modelId}/versions`)).body).toEqual([]);
    await eventually(async () => (await s3.listKeys()).length === 0 && (await s3.listIncompleteUploads()).length === 0, {
      what: 'storage to drop the partial upload',
    });

    // Again: published, with a progress bar on a terminal.
    let bar = '';
    const again = await clopen(upload, env, { stderr: { write: (s: string) => (bar += s), isTTY: true } });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^published 1\.0\.0 as version [0-9a-f-]{36}/);
    expect(again.stdout).toMatch(/model\.safetensors\s+3\d{6}\s+[0-9a-f]{64}/);
    expect(again.stdout).not.toContain('.gitattributes');
    expect(bar).toMatch(/checksums .*100\.0%/);
    expect(bar).toMatch(/upload .*100\.0%/);
    versionId = again.stdout.match(/version ([0-9a-f-]{36})/)![1];

    // Once more (say the answer was lost): the same files under the label are reported, not refused.
    const repeat = await clopen([...upload, '--json'], env);
    expect(repeat.code).toBe(0);
    expect(repeat.json()).toMatchObject({ outcome: 'already_published', version: { id: versionId, label: '1.0.0' } });

    // Other files under a published label: refused with storage's rule.
    appendFileSync(join(folder, 'tokenizer.json'), ' ');
    const changed = await clopen(upload, env);
    expect(changed.code).toBe(1);
    expect(changed.stderr).toMatch(/already has version "1\.0\.0" .* with other files; versions are immutable, upload under a new --label/);
  });

  it('shows a version and lists versions', async () => {
    const shown = await clopen(['versions', 'show', versionId, '--json'], env);
    expect(shown.code).toBe(0);
    expect(shown.json()).toMatchObject({ id: versionId, modelId, kind: 'base', licence: { terms: 'test' }, lineage: [] });
    expect(shown.json().files.map((f: any) => f.path)).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);
    const listed = await clopen(['versions', 'list', '--model', modelId], env);
    expect(listed.stdout).toMatch(new RegExp(`${versionId}\\s+1\\.0\\.0\\s+base\\s+3\\s+3\\.\\d MiB`));
  });

  it('licenses a host; jobs watch follows the copy job until it ends and fails when it did not complete', async () => {
    const created = await clopen(['licences', 'create', '--version', versionId, '--host', HOST.toLowerCase(), '--json'], env);
    expect(created.code).toBe(0);
    const licence = created.json();
    expect(licence).toMatchObject({ versionId, modelId, hostAddress: HOST, status: 'active' });
    const listed = await clopen(['licences', 'list', '--host', HOST], env);
    expect(listed.stdout).toMatch(new RegExp(`${licence.id}\\s+${HOST}\\s+${versionId}\\s+active`));

    // No pool was generated, so the job waits for one; watching with a timeout says so.
    const waiting = await clopen(['jobs', 'watch', licence.id, '--timeout', '1', '--interval', '200'], env);
    expect(waiting.code).toBe(1);
    expect(waiting.stderr).toContain(`copy-${licence.id}: waiting for the version's fingerprint pool`);
    expect(waiting.stdout).toContain('still waiting_for_pool after 1 s');

    expect((await clopen(['jobs', 'cancel', licence.id], env)).stdout).toContain(`copy-${licence.id}: cancelled`);
    const watched = await clopen(['jobs', 'watch', `copy-${licence.id}`, '--json'], env);
    expect(watched.code).toBe(1);
    expect(watched.json()).toMatchObject({ licenceId: licence.id, state: 'cancelled', reason: 'cancelled by an admin' });
  });

  it('issues a grant with a new user key, whose receipts close an epoch; revokes the grant', async () => {
    const daveKey = (await api(access.url, TEST_ADMIN_KEY, 'POST', '/api-keys', { principalId: 'dave', roles: ['user'] })).body.key;
    const bob = privateKeyToAccount(generatePrivateKey());
    const issued = await clopen(
      ['grants', 'issue', '--model', modelId, '--requests', '100', '--days', '7', '--host', bob.address, '--json', '--api-key', daveKey],
      env,
    );
    expect(issued.code).toBe(0);
    const grant = issued.json();
    expect(grant).toMatchObject({
      modelId,
      userId: 'dave',
      hosts: [bob.address],
      quota: { requests: 100, tokens: 0 },
      userKey: { publicKey: expect.any(String), privateKeySeed: expect.any(String) },
    });

    // Bob's host serves Dave once with the printed key and reports the receipt; an epoch commits it.
    await reportUsage(bob, grant.id, privateKeyFromSeed(Buffer.from(grant.userKey.privateKeySeed, 'base64url')));
    await eventually(async () => (await api(access.url, TEST_ADMIN_KEY, 'GET', `/grants/${grant.id}/usage`)).body.requests === 1, {
      what: 'the receipt to be counted',
    });
    const closed = await api(access.url, TEST_ADMIN_KEY, 'POST', '/admin/epochs/close');
    expect(closed.status).toBe(201);

    const epochs = await clopen(['epochs', 'list', '--api-key', daveKey], env);
    expect(epochs.code).toBe(0);
    expect(epochs.stdout).toMatch(new RegExp(`^EPOCH\\s+STARTED\\s+ENDED\\s+RECEIPTS\\s+ROOT\\n1\\s+\\S+\\s+\\S+\\s+1\\s+${closed.body.root}\\n$`));
    expect((await clopen(['epochs', 'list', '--json'], env)).json()).toEqual([expect.objectContaining({ number: 1, receiptCount: 1, root: closed.body.root })]);

    const human = await clopen(['grants', 'issue', '--model', modelId, '--tokens', '5000', '--api-key', daveKey], env);
    expect(human.stdout).toMatch(/quota: +no request limit, 5000 tokens/);
    expect(human.stdout).toMatch(/private seed: +[A-Za-z0-9_-]{43}/);

    const revoked = await clopen(['grants', 'revoke', grant.id, '--reason', 'key lost', '--api-key', daveKey], env);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toMatch(new RegExp(`^revoked grant ${grant.id} at \\S+: key lost`));
  });

  it('lists violations; showing an unknown one fails with the service message', async () => {
    const listed = await clopen(['violations', 'list'], env);
    expect(listed).toMatchObject({ code: 0, stdout: '(none)\n' });
    expect((await clopen(['violations', 'list', '--json'], env)).json()).toEqual([]);
    const missing = await clopen(['violations', 'show', '0190f7a2-0000-7000-8000-000000000000'], env);
    expect(missing).toMatchObject({ code: 1, stdout: '', stderr: 'error: access: violation 0190f7a2-0000-7000-8000-000000000000 does not exist\n' });
  });

  it('a bad API key: the service message and exit code 1, never a stack trace', async () => {
    const bad = await clopen(['models', 'list', '--api-key', 'clp_wrong'], env);
    expect(bad).toMatchObject({ code: 1, stdout: '', stderr: 'error: storage: unknown or revoked API key\n' });
    const json = await clopen(['licences', 'list', '--json'], { ...env, CLOPEN_API_KEY: 'clp_wrong' });
    expect(json.code).toBe(1);
    expect(json.json()).toEqual({ error: 'unauthenticated', message: 'distribution: unknown or revoked API key', service: 'distribution', status: 401 });
    // Each service keeps its own keys: an owner's key at distribution may not license hosts.
    const distributionOwner = (await api(distribution.url, TEST_ADMIN_KEY, 'POST', '/api-keys', { principalId: 'alice', roles: ['owner'] })).body.key;
    const forbidden = await clopen(['licences', 'list'], { ...env, CLOPEN_API_KEY: distributionOwner });
    expect(forbidden).toMatchObject({ code: 1, stderr: 'error: distribution: this route needs the role admin; your key has owner\n' });
    const none = await clopen(['epochs', 'list'], { ...env, CLOPEN_API_KEY: undefined });
    expect(none.stderr).toMatch(/^error: no API key: pass --api-key or set CLOPEN_API_KEY/);
  });

  it('a bad argument: what is wrong, exit code 2, and no call made', async () => {
    const bad = await clopen(['licences', 'create', '--version', 'not-a-uuid', '--host', HOST], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error: option '--version <versionId>' argument 'not-a-uuid' is invalid\. must be an id/);
    const missing = await clopen(['grants', 'revoke', '0190f7a2-0000-7000-8000-000000000000', '--json'], env);
    expect(missing.code).toBe(2);
    expect(missing.json()).toEqual({ error: 'invalid_argument', message: "required option '--reason <text>' not specified" });
    expect((await clopen(['models', 'uplod'], env)).stderr).toMatch(/unknown command 'uplod'\n\(Did you mean upload\?\)/);
    expect((await clopen(['models', 'upload', '/nonexistent', '--model', modelId, '--label', 'x'], env)).stderr).toMatch(
      /^error: cannot read the model folder \/nonexistent: ENOENT/,
    );
    expect((await clopen(['jobs', 'watch', 'pool-123'], env)).code).toBe(2);
    expect((await clopen(['models', 'list', '--storage-url', 'ftp://x'], env)).stderr).toMatch(
      /--storage-url \(or CLOPEN_STORAGE_URL\) must be an http\(s\) URL/,
    );
  });

  /** One request Bob's host served under the grant, reported as hosts do: a batch signed with his registered serving key. */
  async function reportUsage(bob: ReturnType<typeof privateKeyToAccount>, grantId: string, userKey: ReturnType<typeof generateUserKey>) {
    const servingKey = generateUserKey();
    const bus = await Bus.connect({ servers: testInfra.natsUrl, producer: 'host-bob', namespace: ns.namespace });
    try {
      // Only a licensed host registers a serving key: distribution's licence event, as it would publish it.
      await licenseHost(bus, bob.address, modelId);
      const path = '/hosts/serving-keys';
      const body = JSON.stringify({ keyId: 'k1', publicKey: rawPublicKey(servingKey).toString('base64url'), modelId });
      await eventually(
        async () => {
          const auth = await signHostRequest(bob, { audience: 'access', method: 'POST', path, body });
          return (
            (await fetch(`${access.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-clopen-host-auth': auth }, body }))
              .status === 201
          );
        },
        { timeoutMs: 15_000, what: "bob's serving key registered" },
      );
      const requestBody = '{"prompt":"hello","max_tokens":4}';
      const userSignature = sign(null, requestDigest(grantId, 1n, { host: bob.address, model: modelId, body: requestBody }), userKey);
      const receipt = {
        body: receiptBody(bob.address, {
          permission: { grantId, counter: 1n, modelId, userSignature },
          requestBody,
          responseBody: 'hi',
          tokensIn: 2,
          tokensOut: 1,
        }),
        hostKeyId: 'k1',
        hostSignature: new Uint8Array(),
      } as accessV1.UsageReceipt;
      await bus.publish('access.usage.reported', signReceiptBatch(servingKey, 'k1', bob.address, [receipt]));
    } finally {
      await bus.close();
    }
  }
});
