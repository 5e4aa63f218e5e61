import { distributionV1 } from '@clopen/proto';
import { eventually } from '@clopen/testing';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { ADMIN_KEY, DistributionHarness, call, hostGet } from './harness';

jest.setTimeout(900_000);

const host = () => privateKeyToAccount(generatePrivateKey());

/** The embedding queue when things go wrong: dead workers, cancels, bad copies, corrupt artefacts. */
describe('embedding jobs', () => {
  let h: DistributionHarness;
  let aliceStorageKey: string;
  let base: { id: string; modelId: string; label: string };

  const license = async (account = host(), versionId = base.id) => {
    const res = await call(h.url, ADMIN_KEY, 'POST', '/licences', { versionId, hostAddress: account.address });
    expect(res.status).toBe(201);
    return { id: res.body.id as string, account };
  };
  const copiesOf = async (licenceId: string) => (await h.storageAs(ADMIN_KEY).listVersions(base.modelId)).filter((v) => v.label === `oml-${licenceId}`);
  const running = (licenceId: string, phase?: string) =>
    eventually(
      async () => {
        const s = await call(h.url, ADMIN_KEY, 'GET', `/licences/${licenceId}/embedding`);
        return s.body.state === 'running' && (!phase || s.body.phase === phase) && s.body;
      },
      { timeoutMs: 120_000, intervalMs: 100, what: `licence ${licenceId} to be running${phase ? ` in phase ${phase}` : ''}` },
    );

  beforeAll(async () => {
    h = await DistributionHarness.start();
    aliceStorageKey = await h.issueKey(h.storage.url, 'alice', ['owner']);
    base = await h.publishBase(aliceStorageKey, 'alice-tiny');
    await h.startEmbedder();
    await call(h.url, ADMIN_KEY, 'POST', `/versions/${base.id}/pool`, { hosts: 2, coalition: 1 });
    expect((await h.waitForPool(base.id)).status).toBe('ready');
  });
  afterAll(() => h?.stop());

  it('a worker killed mid-job: another picks the job up and exactly one copy results', async () => {
    const dave = await license();
    await running(dave.id, 'embed');
    await h.embedders[0].kill();
    await h.startEmbedder();
    const done = await h.waitForEmbedding(dave.id);
    expect(done.state).toBe('completed');
    expect(await copiesOf(dave.id)).toHaveLength(1);
    const completed = (await h.events('distribution.embedding.progressed')).filter(
      (e) => e.payload.licenceId === dave.id && e.payload.state === distributionV1.EmbeddingState.COMPLETED,
    );
    expect(completed).toHaveLength(1);
    expect((await hostGet(h.url, dave.account, `/host/licences/${dave.id}/copy`)).status).toBe(200);
  });

  it('a cancelled job stops its worker and stores nothing', async () => {
    const frank = await license();
    await running(frank.id, 'embed');
    const res = await call(h.url, ADMIN_KEY, 'POST', `/licences/${frank.id}/embedding/cancel`);
    expect(res.status).toBe(200);
    expect(res.body.state).toBe('cancelled');
    expect((await call(h.url, ADMIN_KEY, 'POST', `/licences/${frank.id}/embedding/cancel`)).status).toBe(409);
    // The worker aborts the engine and is free for the next job well before the copy would be done.
    const next = await license();
    await running(next.id);
    expect(await copiesOf(frank.id)).toHaveLength(0);
    expect((await hostGet(h.url, frank.account, `/host/licences/${frank.id}/copy`)).status).toBe(409);
    await h.waitForEmbedding(next.id);
    expect(await copiesOf(frank.id)).toHaveLength(0);
  });

  it('a copy under the recall threshold fails with the reason, is not stored or delivered, and can be retried', async () => {
    await h.embedders[h.embedders.length - 1].stop();
    await h.startEmbedder({ EMBEDDER_MAX_STEPS: '1', EMBEDDER_CHECK_EVERY: '1' });
    const erin = await license();
    const failed = await h.waitForEmbedding(erin.id);
    expect(failed.state).toBe('failed');
    expect(failed.reason).toMatch(/recall/);
    expect(failed.attempts).toBe(1);
    expect(await copiesOf(erin.id)).toHaveLength(0);
    const refused = await hostGet(h.url, erin.account, `/host/licences/${erin.id}/copy`);
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toMatch(/not ready: embedding is failed/);
    const events = (await h.events('distribution.embedding.progressed')).filter(
      (e) => e.payload.licenceId === erin.id && e.payload.state === distributionV1.EmbeddingState.FAILED,
    );
    expect(events).toHaveLength(1);
    expect(events[0].payload.reason).toMatch(/recall/);

    await h.embedders[h.embedders.length - 1].stop();
    await h.startEmbedder();
    expect((await call(h.url, ADMIN_KEY, 'POST', `/licences/${erin.id}/embedding/retry`)).status).toBe(202);
    expect((await h.waitForEmbedding(erin.id)).state).toBe('completed');
    expect(await copiesOf(erin.id)).toHaveLength(1);
  });

  it('a corrupt base artefact fails pool generation with the reason', async () => {
    const v2 = await h.storageAs(aliceStorageKey).uploadVersion(base.modelId, h.baseDir, ['config.json', 'model.safetensors', 'tokenizer.json'], {
      label: '2.0.0',
      kind: 'base',
      parents: [],
      licence: {},
    });
    const key = (await h.s3.listKeys()).find((k) => k.includes(v2.id) && k.endsWith('model.safetensors'));
    expect(key).toBeDefined();
    const weights = v2.files.find((f) => f.path === 'model.safetensors')!;
    await h.s3.putObject(key!, Buffer.alloc(weights.size, 1));
    await call(h.url, ADMIN_KEY, 'POST', `/versions/${v2.id}/pool`, { hosts: 2, coalition: 1 });
    const pool = await h.waitForPool(v2.id);
    expect(pool.status).toBe('failed');
    expect(pool.failure).toMatch(/corrupt: expected \d+ bytes with sha256/);
    // Licences wait for a pool; none is made from a corrupt base.
    const gina = await license(host(), v2.id);
    expect((await call(h.url, ADMIN_KEY, 'GET', `/licences/${gina.id}/embedding`)).body.state).toBe('waiting_for_pool');
  });
});
