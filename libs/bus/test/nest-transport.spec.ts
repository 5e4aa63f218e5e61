import { Controller, Module, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { storageV1 } from '@clopen/proto';
import { of } from 'rxjs';
import type { DataSource } from 'typeorm';
import { Bus, BusContext, BusExceptionFilter, BusRequestError, BusServer, encodeEnvelope, ProcessedMessage } from '../src';
import { createTestDatabase, NATS_URL, streamMessages, testNamespace, waitFor } from './support';

class ModelNotFound extends Error {
  readonly code = 'not_found';
  constructor(id: string) {
    super(`model ${id} not found: register it first`);
  }
}

const received: { payload: storageV1.VersionPublished; producer: string; inTransaction: boolean; attempt: number }[] = [];

@Controller()
class CatalogueController {
  @EventPattern('storage.version.published')
  async onVersionPublished(@Payload() payload: storageV1.VersionPublished, @Ctx() ctx: BusContext): Promise<void> {
    await ctx.manager.query('INSERT INTO catalogue (version_id) VALUES ($1)', [payload.version?.id]);
    received.push({ payload, producer: ctx.envelope.producer, inTransaction: !!ctx.manager.queryRunner?.isTransactionActive, attempt: ctx.attempt });
  }

  @EventPattern('storage.model.registered')
  onModelRegistered(@Payload() payload: storageV1.ModelRegistered): void {
    throw new ModelNotFound(payload.model?.id ?? '');
  }

  @MessagePattern('storage.model.get')
  async getModel(@Payload() req: storageV1.ModelGetRequest, @Ctx() ctx: BusContext) {
    if (req.id === 'missing') throw new ModelNotFound(req.id);
    if (req.id === 'broken') throw new Error('connection reset');
    return { model: { id: req.id, name: 'llama', ownerId: ctx.envelope.producer } };
  }

  @MessagePattern('storage.version.get')
  getVersion(@Payload() req: storageV1.VersionGetRequest) {
    return of({ version: { id: req.id, label: '2.0.0' } });
  }
}

@Module({ controllers: [CatalogueController] })
class CatalogueModule {}

describe('BusServer NestJS transport (real PostgreSQL + NATS)', () => {
  const ns = testNamespace();
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let ds: DataSource;
  let bus: Bus;
  let client: Bus;
  let app: INestMicroservice;
  let server: BusServer;

  beforeAll(async () => {
    db = await createTestDatabase();
    ds = await db.dataSource('catalogue');
    await ds.query('CREATE TABLE catalogue.catalogue (version_id text PRIMARY KEY)');
    bus = await ns.connect('catalogue');
    client = await Bus.connect({ servers: NATS_URL, producer: 'access', namespace: ns.namespace });
    app = await NestFactory.createMicroservice(CatalogueModule, {
      strategy: (server = new BusServer({ bus, dataSource: ds, durablePrefix: 'catalogue', backoffMs: 20, maxDeliver: 3 })),
      logger: false,
    });
    app.useGlobalFilters(new BusExceptionFilter());
    await app.listen();
  });
  afterAll(async () => {
    await app?.close();
    await client?.close();
    await bus?.close();
    await db?.drop();
    await ns.cleanup();
  });

  it('an @EventPattern handler consumes the typed event once, inside the transaction', async () => {
    const env = client.newEnvelope('storage.version.published', { ownerId: 'alice', version: { id: 'v1', label: '1.0.0' } });
    await client.publishEnvelope(env);
    await client.publishRaw(client.subject('storage.version.published'), encodeEnvelope(env), `${env.id}-redelivered`);
    await waitFor(async () => (await ds.getRepository(ProcessedMessage).countBy({ consumer: 'catalogue' })) === 1, 5_000, 'the event');
    await waitFor(async () => {
      const info = await bus.jsm.consumers.info(bus.stream('STORAGE'), 'catalogue__storage_version_published');
      return info.num_ack_pending === 0 && info.num_pending === 0;
    }, 5_000, 'both copies to be acked');
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ producer: 'access', inTransaction: true, attempt: 1 });
    expect(received[0].payload.$typeName).toBe('clopen.storage.v1.VersionPublished');
    expect(received[0].payload.version?.label).toBe('1.0.0');
    expect(await ds.query('SELECT version_id FROM catalogue.catalogue')).toEqual([{ version_id: 'v1' }]);
  });

  it('a @MessagePattern handler answers requests with its (plain object or Observable) response', async () => {
    const res = await client.request('storage.model.get', { id: 'm1' }, { timeoutMs: 2_000 });
    expect(res.$typeName).toBe('clopen.storage.v1.ModelGetResponse');
    expect(res.model).toMatchObject({ id: 'm1', name: 'llama', ownerId: 'access' });
    const version = await client.request('storage.version.get', { id: 'v9' }, { timeoutMs: 2_000 });
    expect(version.version).toMatchObject({ id: 'v9', label: '2.0.0' });
  });

  it('a coded error reaches the requester as BusRequestError with that code; others as internal', async () => {
    const err = await client.request('storage.model.get', { id: 'missing' }, { timeoutMs: 2_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BusRequestError);
    expect(err).toMatchObject({ code: 'not_found', message: 'model missing not found: register it first' });
    await expect(client.request('storage.model.get', { id: 'broken' }, { timeoutMs: 2_000 })).rejects.toMatchObject({ code: 'internal' });
  });

  it('an event handler that keeps failing ends in the DLQ with its own error message', async () => {
    const env = client.newEnvelope('storage.model.registered', { model: { id: 'm404' } });
    await client.publishEnvelope(env);
    const dead = await waitFor(async () => (await streamMessages(bus, bus.stream('DLQ'))).find((m) => m.header.get('Nats-Msg-Id') === `${env.id}:catalogue`), 5_000, 'the dead letter');
    expect(dead.header.get('Clopen-Dead-Reason')).toBe('model m404 not found: register it first');
    expect(dead.header.get('Clopen-Dead-Attempts')).toBe('3');
    expect(dead.header.get('Clopen-Dead-Consumer')).toBe('catalogue');
  });

  it('exposes the NATS connection through unwrap()', () => {
    expect(server.unwrap()).toBe(bus.connection);
  });
});
