import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { Bus, readEvents } from '@clopen/bus';
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
import { prepareReceiptLoad } from './receipt-load';

/** The access service killed -9 in the middle of a receipt load: after a restart every receipt counts exactly once. */
describe('access: receipts survive a crash of the service', () => {
  let db: TestDatabase;
  let ns: TestBusNamespace;
  let s3: TestS3;
  let bus: Bus;
  let pg: Client;
  let storage: ServiceProcess;
  let access: ServiceProcess;
  let env: Record<string, string>;

  beforeAll(async () => {
    [db, ns, s3] = await Promise.all([createTestDatabase(), createTestBusNamespace(), startTestS3()]);
    bus = await Bus.connect({ servers: testInfra.natsUrl, producer: 'host-load', namespace: ns.namespace });
    await bus.ensureStreams();
    storage = await spawnService('storage', serviceEnv({ db, ns, s3 }));
    // Small pulls, so that a kill lands between transactions and inside one.
    env = { ...serviceEnv({ db, ns }), ACCESS_ISSUER_KEYS: `i1:${randomBytes(32).toString('base64')}`, ACCESS_INGEST_BATCH_MESSAGES: '4' };
    access = await spawnService('access', env);
    pg = new Client({ connectionString: db.url });
    await pg.connect();
  });
  afterAll(async () => {
    await access?.stop();
    await storage?.stop();
    await pg?.end();
    await bus?.close();
    await Promise.allSettled([db?.drop(), ns?.cleanup(), s3?.stop()]);
  });

  it('counts every receipt once after a kill -9 during ingestion and a restart', async () => {
    const modelId = (await api(storage.url, TEST_ADMIN_KEY, 'POST', '/models', { name: 'crash-gpt' })).body.id;
    const load = await prepareReceiptLoad(access.url, bus, modelId, 8);
    const total = 16_000;
    const batches = load.batches(total, 200);
    // Hosts retry: the first ten batches are reported a second time, under new message ids.
    for (const b of [...batches, ...batches.slice(0, 10)]) await bus.publish('access.usage.reported', b);
    const count = async () => Number((await pg.query('SELECT count(*) FROM access.usage_receipts')).rows[0].count);

    await eventually(async () => (await count()) > 0, { timeoutMs: 30_000, intervalMs: 10, what: 'the first receipts counted' });
    await access.kill();
    const atKill = await count();
    expect(atKill).toBeLessThan(total); // killed in the middle, not after the end

    access = await spawnService('access', env);
    await eventually(async () => (await count()) === total, { timeoutMs: 60_000, intervalMs: 100, what: `all ${total} receipts counted` });
    await new Promise((r) => setTimeout(r, 1_500)); // redeliveries that could still double-count would land now
    expect(await count()).toBe(total);
    const perGrant = await pg.query('SELECT grant_id, count(*)::int AS n, max(counter)::int AS top FROM access.usage_receipts GROUP BY grant_id');
    expect(perGrant.rows).toHaveLength(8);
    for (const row of perGrant.rows) expect(row).toMatchObject({ n: total / 8, top: total / 8 });
    // Usage as users see it, and no receipt was refused on the way.
    expect((await api(access.url, TEST_ADMIN_KEY, 'GET', `/grants/${load.grantIds[0]}/usage`)).body).toEqual({
      requests: total / 8,
      tokensIn: (6 * total) / 8,
      tokensOut: (16 * total) / 8,
    });
    expect(await readEvents(bus, 'access.usage.rejected')).toHaveLength(0);
    // Every batch the host signed is kept as the evidence of its receipts.
    expect(Number((await pg.query('SELECT count(DISTINCT batch_id) FROM access.usage_receipts')).rows[0].count)).toBeGreaterThanOrEqual(batches.length);
  });
});
