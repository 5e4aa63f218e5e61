import { Controller, Module, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { storageV1 } from '@clopen/proto';
import { of } from 'rxjs';
import type { DataSource } from 'typeorm';
import { Bus, BusContext, BusExceptionFilter, BusRequestError, BusServer, currentCause, type Cause } from '../src';
import { createTestDatabase, NATS_URL, testNamespace } from './support';

class ModelNotFound extends Error {
  readonly code = 'not_found';
  constructor(id: string) {
    super(`model ${id} not found: register it first`);
  }
}

const causes: { request: { id: string; correlationId: string }; cause?: Cause }[] = [];

@Controller()
class CatalogueController {
  @MessagePattern('storage.model.get')
  async getModel(@Payload() req: storageV1.ModelGetRequest, @Ctx() ctx: BusContext) {
    if (req.id === 'missing') throw new ModelNotFound(req.id);
    if (req.id === 'broken') throw new Error('connection reset');
    causes.push({ request: ctx.envelope, cause: currentCause() });
    return { model: { id: req.id, name: 'llama', ownerId: ctx.envelope.producer } };
  }

  @MessagePattern('storage.version.get')
  getVersion(@Payload() req: storageV1.VersionGetRequest) {
    return of({ version: { id: req.id, label: '2.0.0' } });
  }
}

@Module({ controllers: [CatalogueController] })
class CatalogueModule {}

@Controller()
class OldStyleController {
  @EventPattern('storage.version.published')
  onVersionPublished(): void {}
}

@Module({ controllers: [OldStyleController] })
class OldStyleModule {}

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
      strategy: (server = new BusServer({ bus, dataSource: ds, durablePrefix: 'catalogue' })),
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

  it('a @MessagePattern handler answers requests with its (plain object or Observable) response', async () => {
    const res = await client.request('storage.model.get', { id: 'm1' }, { timeoutMs: 2_000 });
    expect(res.$typeName).toBe('clopen.storage.v1.ModelGetResponse');
    expect(res.model).toMatchObject({ id: 'm1', name: 'llama', ownerId: 'access' });
    // What the handler publishes or enqueues is caused by the request: it runs in the request's cause.
    expect(causes.at(-1)!.cause).toEqual({ correlationId: causes.at(-1)!.request.correlationId, causationId: causes.at(-1)!.request.id });
    const version = await client.request('storage.version.get', { id: 'v9' }, { timeoutMs: 2_000 });
    expect(version.version).toMatchObject({ id: 'v9', label: '2.0.0' });
  });

  it('a coded error reaches the requester as BusRequestError with that code; others as internal', async () => {
    const err = await client.request('storage.model.get', { id: 'missing' }, { timeoutMs: 2_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BusRequestError);
    expect(err).toMatchObject({ code: 'not_found', message: 'model missing not found: register it first' });
    await expect(client.request('storage.model.get', { id: 'broken' }, { timeoutMs: 2_000 })).rejects.toMatchObject({ code: 'internal' });
  });

  it('refuses an @EventPattern at start: events have one way to be handled, consume({ handlers })', async () => {
    const other = NestFactory.createMicroservice(OldStyleModule, {
      strategy: new BusServer({ bus, durablePrefix: 'old', ensureStreams: false }),
      logger: false,
    });
    await expect((await other).listen()).rejects.toThrow(/events are handled with consume\(\{ handlers/);
  });

  it('exposes the NATS connection through unwrap()', () => {
    expect(server.unwrap()).toBe(bus.connection);
  });
});
