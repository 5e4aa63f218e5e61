import type { DataSource } from 'typeorm';
import { Bus, consume, decodeEnvelope, listDeadLetters, ProcessedMessage, redriveDeadLetter, type ConsumerHandle, type EventPayload } from '../src';
import { createTestDatabase, quietLogger, sleep, streamMessages, testNamespace, waitFor } from './support';

describe('idempotent durable consumer (real PostgreSQL + NATS)', () => {
  const ns = testNamespace();
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let ds: DataSource;
  let bus: Bus;
  const handles: ConsumerHandle[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    ds = await db.dataSource('distribution');
    await ds.query(`CREATE TABLE distribution.seen_versions (version_id text PRIMARY KEY, owner_id text NOT NULL)`);
    bus = await ns.connect('distribution');
    await bus.ensureStreams();
  });
  beforeEach(async () => {
    // Consumers start from the first message of the stream; each test starts from an empty one.
    await bus.jsm.streams.purge(bus.stream('STORAGE'));
  });
  afterEach(async () => {
    await Promise.all(handles.splice(0).map((h) => h.stop()));
  });
  afterAll(async () => {
    await bus?.close();
    await db?.drop();
    await ns.cleanup();
  });

  const seen = async () =>
    (await ds.query(`SELECT version_id FROM distribution.seen_versions ORDER BY version_id`)).map((r: { version_id: string }) => r.version_id);

  it('delivers typed payloads with their envelope, and writes in the handler transaction', async () => {
    const got: { payload: EventPayload<'storage.version.published'>; correlationId: string; subject: string }[] = [];
    handles.push(
      await consume({
        bus,
        dataSource: ds,
        durable: 'distribution',
        logger: quietLogger,
        handlers: {
          'storage.version.published': async (payload, { envelope, subject, manager }) => {
            got.push({ payload, correlationId: envelope.correlationId, subject });
            await manager.query(`INSERT INTO seen_versions (version_id, owner_id) VALUES ($1, $2)`, [payload.version?.id, payload.ownerId]);
          },
        },
      }),
    );
    const published = await bus.publish('storage.version.published', { ownerId: 'alice', version: { id: 'v1', label: '1.0.0' } }, { correlationId: 'story-1' });
    await waitFor(() => got.length === 1, 5_000, 'delivery');
    expect(got[0].payload.$typeName).toBe('clopen.storage.v1.VersionPublished');
    expect(got[0].payload.version?.label).toBe('1.0.0');
    expect(got[0]).toMatchObject({ correlationId: 'story-1', subject: 'storage.version.published' });
    await waitFor(async () => (await seen()).length === 1, 5_000, 'the handler commit');
    expect(await ds.getRepository(ProcessedMessage).findOneBy({ consumer: 'distribution', messageId: published.id })).not.toBeNull();
  });

  it('a redelivered message changes nothing', async () => {
    let calls = 0;
    handles.push(
      await consume({
        bus,
        dataSource: ds,
        durable: 'distribution-redelivery',
        logger: quietLogger,
        handlers: {
          'storage.model.registered': async () => {
            calls++;
          },
        },
      }),
    );
    const env = bus.newEnvelope('storage.model.registered', { model: { id: 'm1' } });
    await bus.publishEnvelope(env);
    await waitFor(() => calls === 1, 5_000, 'first delivery');
    // The same envelope again under another Nats-Msg-Id: what a redelivery after a lost ack looks like.
    const again = await bus.publishRaw(
      bus.subject('storage.model.registered'),
      (await streamMessages(bus, bus.stream('STORAGE'))).at(-1)!.data,
      `${env.id}-again`,
    );
    expect(again.duplicate).toBe(false);
    const consumer = `distribution-redelivery__storage_model_registered`;
    await waitFor(
      async () => (await bus.jsm.consumers.info(bus.stream('STORAGE'), consumer)).ack_floor.stream_seq === again.seq,
      5_000,
      'the redelivery to be acked',
    );
    expect(calls).toBe(1);
    expect(await ds.getRepository(ProcessedMessage).countBy({ consumer: 'distribution-redelivery' })).toBe(1);
  });

  it('a failing handler rolls back, is retried with backoff, and succeeds later', async () => {
    const attempts: number[] = [];
    handles.push(
      await consume({
        bus,
        dataSource: ds,
        durable: 'distribution-retry',
        maxDeliver: 5,
        backoffMs: [30, 60],
        logger: quietLogger,
        handlers: {
          'storage.version.published': async (payload, { manager, attempt }) => {
            attempts.push(attempt);
            await manager.query(`INSERT INTO seen_versions (version_id, owner_id) VALUES ($1, $2)`, [`retry-${attempt}`, payload.ownerId]);
            if (attempt < 3) throw new Error('storage is slow today');
          },
        },
      }),
    );
    await bus.publish('storage.version.published', { ownerId: 'bob', version: { id: 'v2' } });
    await waitFor(() => attempts.length === 3, 5_000, 'three attempts');
    await sleep(100);
    expect(attempts).toEqual([1, 2, 3]);
    expect((await seen()).filter((v: string) => v.startsWith('retry-'))).toEqual(['retry-3']);
  });

  it('a handler that always throws ends in the DLQ with the reason after maxDeliver attempts', async () => {
    let calls = 0;
    handles.push(
      await consume({
        bus,
        dataSource: ds,
        durable: 'distribution-dlq',
        maxDeliver: 3,
        backoffMs: 20,
        logger: quietLogger,
        handlers: {
          'storage.model.registered': async (payload) => {
            calls++;
            throw new Error(`licence terms of model ${payload.model?.id} are not valid JSON`);
          },
        },
      }),
    );
    const env = bus.newEnvelope('storage.model.registered', { model: { id: 'bad' } });
    await bus.publishEnvelope(env);
    const dlq = bus.stream('DLQ');
    const dead = await waitFor(
      async () => (await streamMessages(bus, dlq)).find((m) => m.header.get('Clopen-Dead-Consumer') === 'distribution-dlq'),
      5_000,
      'the dead letter',
    );
    expect(dead.subject).toBe(bus.subject('dlq.storage.model.registered'));
    expect(dead.header.get('Clopen-Dead-Reason')).toBe('licence terms of model bad are not valid JSON');
    expect(dead.header.get('Clopen-Dead-Attempts')).toBe('3');
    expect(dead.header.get('Clopen-Correlation-Id')).toBe(env.id);
    expect(decodeEnvelope(dead.data, 'storage.model.registered').envelope.id).toBe(env.id);
    await sleep(150);
    expect(calls).toBe(3); // terminated: no fourth delivery
    expect(await ds.getRepository(ProcessedMessage).countBy({ consumer: 'distribution-dlq' })).toBe(0);
  });

  it('an undecodable message goes straight to the DLQ', async () => {
    let calls = 0;
    handles.push(
      await consume({
        bus,
        dataSource: ds,
        durable: 'distribution-garbage',
        maxDeliver: 5,
        backoffMs: 20,
        logger: quietLogger,
        handlers: {
          'storage.version.published': async () => {
            calls++;
          },
        },
      }),
    );
    await bus.publishRaw(bus.subject('storage.version.published'), new TextEncoder().encode('{"json":"is not welcome"}'), 'garbage-1');
    const dead = await waitFor(
      async () => (await streamMessages(bus, bus.stream('DLQ'))).find((m) => m.header.get('Clopen-Dead-Consumer') === 'distribution-garbage'),
      5_000,
      'the dead letter',
    );
    expect(dead.subject).toBe(bus.subject('dlq.storage.version.published'));
    expect(dead.header.get('Clopen-Dead-Attempts')).toBe('1');
    expect(dead.header.get('Clopen-Dead-Reason')).toMatch(/not a clopen.bus.v1.Envelope|unknown subject/);
    expect(calls).toBe(0);
  });

  it('routes each subject to its own typed handler, and what a handler creates is caused by what it handles', async () => {
    const made: { handled: { id: string; correlationId: string }; caused: { correlationId: string; causationId: string } }[] = [];
    const models: string[] = [];
    handles.push(
      await consume({
        bus,
        dataSource: ds,
        durable: 'distribution-map',
        logger: quietLogger,
        handlers: {
          'storage.version.published': async (payload, { envelope }) => {
            // Any envelope created while handling (an outbox event, a publish, a request) inherits the cause.
            const next = bus.newEnvelope('storage.model.registered', { model: { id: `after-${payload.version?.id}` } });
            made.push({ handled: envelope, caused: next });
          },
          'storage.model.registered': async (payload) => {
            models.push(payload.model?.id ?? '');
          },
        },
      }),
    );
    const published = await bus.publish('storage.version.published', { ownerId: 'alice', version: { id: 'v7' } }, { correlationId: 'alice-upload' });
    await bus.publish('storage.model.registered', { model: { id: 'm7' } });
    await waitFor(() => made.length === 1 && models.length === 1, 5_000, 'both handlers');
    expect(made[0].caused).toMatchObject({ correlationId: 'alice-upload', causationId: published.id });
    expect(models).toEqual(['m7']);
    // Outside a handler nothing is inherited: a new envelope starts its own chain.
    const root = bus.newEnvelope('storage.model.registered', { model: { id: 'root' } });
    expect([root.correlationId, root.causationId]).toEqual([root.id, '']);
  });

  it('lists a dead letter with its reason, and a redrive runs it through the same consumer once', async () => {
    let fixed = false;
    const handled: string[] = [];
    handles.push(
      await consume({
        bus,
        dataSource: ds,
        durable: 'distribution-redrive',
        maxDeliver: 2,
        backoffMs: 20,
        logger: quietLogger,
        handlers: {
          'storage.model.registered': async (payload, { manager }) => {
            if (!fixed) throw new Error(`model ${payload.model?.id} has no owner yet`);
            await manager.query(`INSERT INTO seen_versions (version_id, owner_id) VALUES ($1, 'redriven')`, [payload.model?.id]);
            handled.push(payload.model?.id ?? '');
          },
        },
      }),
    );
    const env = bus.newEnvelope('storage.model.registered', { model: { id: 'm-dead' } }, { correlationId: 'bob-story' });
    await bus.publishEnvelope(env);
    const letter = await waitFor(
      async () => (await listDeadLetters(bus, { consumer: 'distribution-redrive' })).deadLetters.find((d) => d.envelope?.id === env.id),
      5_000,
      'the dead letter',
    );
    expect(letter).toMatchObject({
      subject: 'storage.model.registered',
      consumer: 'distribution-redrive',
      reason: 'model m-dead has no owner yet',
      attempts: 2,
      envelope: { correlationId: 'bob-story' },
    });
    // Another consumer's filter hides it; a redrive by the wrong consumer finds nothing.
    expect((await listDeadLetters(bus, { consumer: 'someone-else' })).deadLetters.map((d) => d.seq)).not.toContain(letter.seq);
    await expect(redriveDeadLetter(bus, letter.seq, 'someone-else')).rejects.toThrow(/no dead letter/);
    // Still broken: the redrive fails with the handler's error and changes nothing.
    await expect(redriveDeadLetter(bus, letter.seq, 'distribution-redrive')).rejects.toThrow('model m-dead has no owner yet');
    expect(await ds.getRepository(ProcessedMessage).countBy({ consumer: 'distribution-redrive' })).toBe(0);
    fixed = true;
    expect((await redriveDeadLetter(bus, letter.seq, 'distribution-redrive')).outcome).toBe('handled');
    expect((await redriveDeadLetter(bus, letter.seq, 'distribution-redrive')).outcome).toBe('already_processed');
    expect(handled).toEqual(['m-dead']);
    expect((await seen()).filter((v: string) => v === 'm-dead')).toEqual(['m-dead']);
  });
});
