import { IsNull, type DataSource } from 'typeorm';
import { Bus, decodeEnvelope, Outbox, OutboxMessage, OutboxRelay } from '../src';
import { createTestDatabase, quietLogger, sleep, streamMessages, testNamespace, waitFor } from './support';

describe('transactional outbox (real PostgreSQL + NATS)', () => {
  const ns = testNamespace();
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let ds: DataSource;
  let bus: Bus;
  const outbox = new Outbox({ producer: 'storage' });
  const stream = () => `${ns.namespace}_STORAGE`;

  beforeAll(async () => {
    db = await createTestDatabase();
    ds = await db.dataSource('storage');
    bus = await ns.connect('storage');
    await bus.ensureStreams();
  });
  afterAll(async () => {
    await bus?.close();
    await db?.drop();
    await ns.cleanup();
  });
  beforeEach(async () => {
    await ds.getRepository(OutboxMessage).clear();
    await bus.jsm.streams.purge(stream());
  });

  const unpublished = () => ds.getRepository(OutboxMessage).countBy({ publishedAt: IsNull() });

  it('creates the bus tables in the service schema', async () => {
    const rows: { table_schema: string; table_name: string }[] = await ds.query(
      `SELECT table_schema, table_name FROM information_schema.tables WHERE table_name IN ('outbox_messages', 'processed_messages') ORDER BY table_name`,
    );
    expect(rows).toEqual([
      { table_schema: 'storage', table_name: 'outbox_messages' },
      { table_schema: 'storage', table_name: 'processed_messages' },
    ]);
    // The migration and the entities agree: nothing left for TypeORM to synchronise.
    const pending = await ds.driver.createSchemaBuilder().log();
    expect(pending.upQueries.map((q) => q.query)).toEqual([]);
  });

  it('refuses to enqueue outside a transaction', async () => {
    await expect(outbox.enqueue(ds.manager, 'storage.model.registered', {})).rejects.toThrow(/open transaction/);
  });

  it('a rolled-back transaction publishes nothing', async () => {
    await expect(
      ds.transaction(async (manager) => {
        await outbox.enqueue(manager, 'storage.model.registered', { model: { id: 'm1' } });
        throw new Error('model insert failed');
      }),
    ).rejects.toThrow('model insert failed');
    expect(await ds.getRepository(OutboxMessage).count()).toBe(0);
    const relay = new OutboxRelay(ds, bus, { logger: quietLogger });
    expect(await relay.relayOnce()).toBe(0);
    expect((await bus.jsm.streams.info(stream())).state.messages).toBe(0);
  });

  it('relays committed rows once, in the order they were written', async () => {
    const ids = await ds.transaction(async (manager) => [
      await outbox.enqueue(manager, 'storage.model.registered', { model: { id: 'm1' } }),
      await outbox.enqueue(manager, 'storage.version.published', { ownerId: 'alice', version: { id: 'v1' } }),
    ]);
    const relay = new OutboxRelay(ds, bus, { logger: quietLogger, batchSize: 10 });
    expect(await relay.relayOnce()).toBe(2);
    expect(await relay.relayOnce()).toBe(0);
    const msgs = await streamMessages(bus, stream());
    expect(msgs.map((m) => m.header.get('Nats-Msg-Id'))).toEqual(ids);
    expect(decodeEnvelope(msgs[1].data, 'storage.version.published').payload.version?.id).toBe('v1');
    const row = await ds.getRepository(OutboxMessage).findOneByOrFail({ id: ids[0] });
    expect(row.publishedAt).toBeInstanceOf(Date);
    expect(row.attempts).toBe(1);
  });

  it('a relay crash after publish and before marking does not duplicate the event', async () => {
    const id = await ds.transaction((manager) => outbox.enqueue(manager, 'storage.model.registered', { model: { id: 'm2' } }));
    // The crashed relay got this far: published, never marked.
    const row = await ds.getRepository(OutboxMessage).findOneByOrFail({ id });
    await bus.publishEnvelope(new Uint8Array(row.envelope));
    expect(await unpublished()).toBe(1);

    const relay = new OutboxRelay(ds, bus, { logger: quietLogger });
    expect(await relay.relayOnce()).toBe(1);
    expect(await unpublished()).toBe(0);
    const msgs = await streamMessages(bus, stream());
    expect(msgs).toHaveLength(1);
    expect(msgs[0].header.get('Nats-Msg-Id')).toBe(id);
  });

  it('two relays running concurrently publish every row exactly once', async () => {
    const ids: string[] = [];
    for (let t = 0; t < 10; t++) {
      ids.push(
        ...(await ds.transaction(async (manager) => {
          const out: string[] = [];
          for (let i = 0; i < 10; i++) out.push(await outbox.enqueue(manager, 'storage.model.registered', { model: { id: `m-${t}-${i}` } }));
          return out;
        })),
      );
    }
    const a = new OutboxRelay(ds, bus, { logger: quietLogger, batchSize: 7 });
    const b = new OutboxRelay(ds, bus, { logger: quietLogger, batchSize: 7 });
    const counts = [0, 0];
    const drain = async (relay: OutboxRelay, k: number) => {
      for (let n = await relay.relayOnce(); n > 0; n = await relay.relayOnce()) counts[k] += n;
    };
    await Promise.all([drain(a, 0), drain(b, 1), drain(a, 0), drain(b, 1)]);
    expect(counts[0] + counts[1]).toBe(100);
    expect(await unpublished()).toBe(0);
    const msgs = await streamMessages(bus, stream());
    expect(msgs).toHaveLength(100);
    expect(new Set(msgs.map((m) => m.header.get('Nats-Msg-Id')))).toEqual(new Set(ids));
  });

  it('a publish failure records the error, stops the batch and is retried', async () => {
    const ids = await ds.transaction(async (manager) => [
      await outbox.enqueue(manager, 'storage.model.registered', { model: { id: 'a' } }),
      await outbox.enqueue(manager, 'storage.model.registered', { model: { id: 'b' } }),
    ]);
    const failing = Object.create(bus) as Bus;
    failing.publishEnvelope = async () => {
      throw new Error('nats: no responders available for request');
    };
    expect(await new OutboxRelay(ds, failing, { logger: quietLogger }).relayOnce()).toBe(0);
    const first = await ds.getRepository(OutboxMessage).findOneByOrFail({ id: ids[0] });
    expect(first).toMatchObject({ attempts: 1, publishedAt: null, lastError: expect.stringContaining('no responders') });
    expect((await ds.getRepository(OutboxMessage).findOneByOrFail({ id: ids[1] })).attempts).toBe(0);

    expect(await new OutboxRelay(ds, bus, { logger: quietLogger }).relayOnce()).toBe(2);
    expect((await streamMessages(bus, stream())).map((m) => m.header.get('Nats-Msg-Id'))).toEqual(ids);
  });

  it('a started relay wakes on commit (LISTEN/NOTIFY) long before its polling interval', async () => {
    const relay = new OutboxRelay(ds, bus, { logger: quietLogger, intervalMs: 60_000 });
    relay.start();
    try {
      await new Promise((r) => setTimeout(r, 200)); // let it LISTEN and go to sleep
      const started = Date.now();
      await ds.transaction((manager) => outbox.enqueue(manager, 'storage.model.registered', { model: { id: 'fast' } }));
      await waitFor(async () => (await bus.jsm.streams.info(stream())).state.messages === 1, 3_000, 'the relayed event');
      expect(Date.now() - started).toBeLessThan(1_000);
    } finally {
      await relay.stop();
    }
    expect(await unpublished()).toBe(0);
  });

  it('stop() waits for the batch in flight, which commits', async () => {
    await ds.transaction((manager) => outbox.enqueue(manager, 'storage.model.registered', {}));
    let entered!: () => void;
    const inFlight = new Promise<void>((resolve) => (entered = resolve));
    const slow = Object.create(bus) as Bus;
    slow.publishEnvelope = async (envelope) => {
      entered();
      await sleep(200);
      return bus.publishEnvelope(envelope);
    };
    const relay = new OutboxRelay(ds, slow, { logger: quietLogger, intervalMs: 10, listen: false });
    relay.start();
    try {
      await inFlight;
    } finally {
      await relay.stop();
    }
    expect(await unpublished()).toBe(0);
    expect((await bus.jsm.streams.info(stream())).state.messages).toBe(1);
  });
});
