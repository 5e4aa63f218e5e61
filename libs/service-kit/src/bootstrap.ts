import 'reflect-metadata';
import {
  Global,
  Logger as NestLogger,
  MiddlewareConsumer,
  Module,
  type DynamicModule,
  type INestApplication,
  type NestModule,
  type Type,
} from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR, APP_PIPE, NestFactory } from '@nestjs/core';
import { ZodSerializerInterceptor } from 'nestjs-zod';
import { ContractPipe } from './contracts';
import { CorrelationMiddleware } from './correlation';
import { DeadLettersController } from './dead-letters/dead-letters.controller';
import { TerminusModule } from '@nestjs/terminus';
import { SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import {
  BUS_ENTITIES,
  Bus,
  BusRetention,
  BusServer,
  Outbox,
  OutboxRelay,
  PARTNER_JS_API_PREFIX,
  busRetentionMigration,
  busTablesMigration,
  serviceInbox,
} from '@clopen/bus';
import { ConfigError, baseSettings, databaseSettings, loadConfig } from '@clopen/config';
import { createServiceDataSource, migrateServiceSchema, openServiceDataSource } from '@clopen/db';
import { Logger, LoggerModule } from 'nestjs-pino';
import Redis from 'ioredis';
import { DataSource } from 'typeorm';
import type { z } from 'zod';
import { ApiKeyGuard } from './auth/api-key.guard';
import { ApiKeysController } from './auth/api-keys.controller';
import { ApiKeysService, KIT_OPTIONS } from './auth/api-keys.service';
import { ApiKey } from './auth/api-key.entity';
import { CreateApiKeys1764000000000 } from './auth/api-keys.migration';
import { ErrorFilter, problem, PROBLEM_CONTENT_TYPE, type ErrorShape, type Problem } from './errors';
import { HealthController, READINESS_CHECKS, type ReadinessCheck } from './health/health.controller';
import { HttpMetricsMiddleware, Metrics, MetricsController } from './metrics/metrics';
import { openApiDocument } from './openapi';
import { ObjectStore, type S3Settings } from './s3';

type BaseConfig = z.infer<z.ZodObject<typeof baseSettings & typeof databaseSettings>>;
type RedisConfig = { REDIS_URL: string };
type BusConfig = {
  NATS_URL: string;
  NATS_NKEY_SEED?: string;
  BUS_NAMESPACE: string;
  BUS_STREAM_REPLICAS: number;
  OUTBOX_RELAY_ENABLED: boolean;
  OUTBOX_RELAY_INTERVAL_MS: number;
  OUTBOX_RELAY_BATCH_SIZE: number;
  OUTBOX_RETENTION_HOURS: number;
  PROCESSED_RETENTION_HOURS: number;
};

/** What a service is made of; `createService` turns it into a running NestJS app. */
export interface ServiceDefinition<S extends z.ZodRawShape> {
  /** Also the PostgreSQL schema and the bus producer name. */
  name: string;
  title: string;
  description: string;
  settings: S;
  entities: Function[];
  migrations: Function[];
  /**
   * `database: false` for a service that keeps no state of its own (a host's gateway): no
   * PostgreSQL, no stored API keys (only the bootstrap admin key), no outbox and no event consumers.
   */
  /**
   * `bus: 'partner'` for a process a partner runs (a host's gateway): with credentials
   * (NATS_NKEY_SEED) it is in the partner's own NATS account (infra/nats), where it publishes usage
   * and reads revocations only, so it neither creates streams nor uses the platform's JetStream API.
   */
  uses: { database?: boolean; bus?: boolean | 'partner'; s3?: boolean; redis?: boolean };
  /** Routes that answer errors in another shape (the gateway's OpenAI routes); the platform's everywhere else. */
  errorShape?: ErrorShape;
  /** Feature modules; the context's objects are injectable by class (DataSource, Bus, Outbox, ObjectStore, Redis, Metrics) and CONFIG. */
  modules: (ctx: ServiceContext<z.infer<z.ZodObject<S>>>) => Array<Type | DynamicModule>;
}

export interface ServiceContext<C> {
  name: string;
  config: C;
  /** Absent when the service uses no database (`uses.database: false`). */
  dataSource?: DataSource;
  bus?: Bus;
  store?: ObjectStore;
  /** Shared connection for queries; BullMQ queues and workers open their own from REDIS_URL. */
  redis?: Redis;
  metrics: Metrics;
}

export const CONFIG = Symbol('clopen:config');

export interface RunningService<C> {
  app: INestApplication;
  ctx: ServiceContext<C>;
  /** http://host:port of the REST API once listening. */
  url: string;
  close(): Promise<void>;
}

/** Builds and starts a service: config, database and migrations, bus, S3, HTTP with kit routes. */
export async function createService<S extends z.ZodRawShape>(
  def: ServiceDefinition<S>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunningService<z.infer<z.ZodObject<S>>>> {
  const config = loadConfig(def.settings, env) as z.infer<z.ZodObject<S>> & BaseConfig;
  const metrics = new Metrics(def.name);
  const usesDatabase = def.uses.database !== false;
  const dataSource = usesDatabase ? serviceDataSource(def, config.DATABASE_URL, config.DATABASE_POOL_SIZE) : undefined;
  const closers: Array<() => Promise<unknown>> = [];
  const readiness: ReadinessCheck[] = dataSource ? [{ name: 'postgres', check: () => dataSource.query('SELECT 1') }] : [];
  try {
    if (dataSource) {
      await openServiceDataSource(dataSource);
      closers.unshift(() => dataSource.destroy());
    }

    let bus: Bus | undefined;
    let relay: OutboxRelay | undefined;
    if (def.uses.bus) {
      const bc = config as unknown as BusConfig;
      const inPartnerAccount = def.uses.bus === 'partner' && !!bc.NATS_NKEY_SEED;
      bus = await Bus.connect({
        servers: bc.NATS_URL.split(',').map((s) => s.trim()),
        producer: def.name,
        namespace: bc.BUS_NAMESPACE,
        name: def.name,
        nkeySeed: bc.NATS_NKEY_SEED,
        streamReplicas: bc.BUS_STREAM_REPLICAS,
        // a partner's account is its own; in the platform's, a service receives on its own inbox only
        ...(inPartnerAccount ? { jsApiPrefix: PARTNER_JS_API_PREFIX } : { inboxPrefix: serviceInbox(def.name) }),
      });
      closers.unshift(() => bus!.close());
      if (!inPartnerAccount) await bus.ensureStreams();
      readiness.push({ name: 'nats', check: () => bus!.connection.rtt() });
      if (bc.OUTBOX_RELAY_ENABLED && dataSource) {
        relay = new OutboxRelay(dataSource, bus, {
          intervalMs: bc.OUTBOX_RELAY_INTERVAL_MS,
          batchSize: bc.OUTBOX_RELAY_BATCH_SIZE,
          logger: new NestLogger(`${def.name}:outbox`),
        });
      }
      if (dataSource) {
        const retention = new BusRetention(dataSource, {
          outboxMs: bc.OUTBOX_RETENTION_HOURS * 3_600_000,
          processedMs: bc.PROCESSED_RETENTION_HOURS * 3_600_000,
          logger: new NestLogger(`${def.name}:retention`),
        });
        retention.start();
        closers.unshift(() => retention.stop());
      }
    }

    let store: ObjectStore | undefined;
    if (def.uses.s3) {
      const sc = config as unknown as S3Settings;
      store = new ObjectStore(sc);
      await store.ensureBucket(sc.S3_REGION);
      readiness.push({ name: 's3', check: () => store!.ping() });
    }

    let redis: Redis | undefined;
    if (def.uses.redis) {
      redis = new Redis((config as unknown as RedisConfig).REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 3 });
      await redis.connect();
      closers.unshift(() => redis!.quit());
      readiness.push({ name: 'redis', check: () => redis!.ping() });
    }

    const ctx: ServiceContext<z.infer<z.ZodObject<S>>> = { name: def.name, config, dataSource, bus, store, redis, metrics };
    const app = await NestFactory.create(rootModule(def, ctx, readiness), { bufferLogs: true, abortOnError: false, rawBody: true });
    app.useLogger(app.get(Logger));
    SwaggerModule.setup('docs', app, () => openApiDocument(app, def), { jsonDocumentUrl: 'docs/openapi.json' });

    if (bus) {
      app.connectMicroservice({ strategy: new BusServer({ bus, dataSource, durablePrefix: def.name }) }, { inheritAppConfig: true });
      await app.startAllMicroservices();
    }
    await app.listen(config.HTTP_PORT, config.HTTP_HOST);
    answerMalformedRequests(app.getHttpServer(), def.errorShape);
    relay?.start();
    if (relay) closers.unshift(() => relay!.stop());

    const address = app.getHttpServer().address();
    const port = typeof address === 'object' && address ? address.port : config.HTTP_PORT;
    const host = config.HTTP_HOST === '0.0.0.0' ? '127.0.0.1' : config.HTTP_HOST;
    let closed = false;
    return {
      app,
      ctx,
      url: `http://${host}:${port}`,
      async close() {
        if (closed) return;
        closed = true;
        await app.close();
        for (const close of closers) await close().catch(() => undefined);
      },
    };
  } catch (e) {
    for (const close of closers) await close().catch(() => undefined);
    throw e;
  }
}

/** The service's DataSource, confined to the schema of its name. */
function serviceDataSource<S extends z.ZodRawShape>(def: ServiceDefinition<S>, url: string, poolSize: number): DataSource {
  return createServiceDataSource({
    url,
    schema: def.name,
    // The kit's own tables (API keys; outbox and processed messages when the bus is used) come
    // first, in the service's schema, so every service has them without listing them.
    entities: [ApiKey, ...(def.uses.bus ? BUS_ENTITIES : []), ...def.entities],
    migrations: [CreateApiKeys1764000000000, ...(def.uses.bus ? [busTablesMigration(), busRetentionMigration()] : []), ...def.migrations],
    poolSize,
    applicationName: def.name,
  });
}

/**
 * Applies the service's migrations (the kit's tables, the bus tables when it uses the bus, its own)
 * under the same advisory lock as a start, and closes the connection; returns the names it applied.
 * What `MIGRATE_ONLY=true` runs instead of the service: it reads DATABASE_URL only, so a migrations
 * Job needs no key, no NATS, S3 or Redis.
 */
export async function migrateService<S extends z.ZodRawShape>(def: ServiceDefinition<S>, env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  if (def.uses.database === false) {
    throw new ConfigError([{ setting: 'MIGRATE_ONLY', problem: `${def.name} keeps no database, so it has no migrations: unset it` }]);
  }
  const { DATABASE_URL } = loadConfig({ DATABASE_URL: databaseSettings.DATABASE_URL }, env);
  // two connections: one holds the advisory lock while the migrations run on the other
  const dataSource = serviceDataSource(def, DATABASE_URL, 2);
  try {
    return await migrateServiceSchema(dataSource);
  } finally {
    if (dataSource.isInitialized) await dataSource.destroy();
  }
}

/**
 * The OpenAPI document that the service serves at /docs, built without starting it: Nest's preview
 * mode resolves the modules and reads the controllers' metadata but instantiates nothing, so no
 * setting, database, NATS, S3 or Redis is needed (their places in the container are held by
 * stand-ins that are never called). `npm run apidocs:generate` writes it to docs/openapi/.
 */
export async function previewOpenApiDocument<S extends z.ZodRawShape>(def: ServiceDefinition<S>): Promise<OpenAPIObject> {
  const stub = <T>(type: { prototype: T }): T => Object.create(type.prototype as object) as T;
  const ctx: ServiceContext<z.infer<z.ZodObject<S>>> = {
    name: def.name,
    config: settingDefaults(def.settings) as z.infer<z.ZodObject<S>>,
    dataSource: def.uses.database !== false ? stub(DataSource) : undefined,
    bus: def.uses.bus ? stub(Bus) : undefined,
    store: def.uses.s3 ? stub(ObjectStore) : undefined,
    redis: def.uses.redis ? stub(Redis) : undefined,
    metrics: stub(Metrics),
  };
  const app = await NestFactory.create(rootModule(def, ctx, []), { preview: true, logger: false, abortOnError: false });
  return openApiDocument(app, def);
}

/** Each setting's default where it has one: a preview's modules may read the config, but no setting is required. */
function settingDefaults(shape: z.ZodRawShape): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  for (const [key, schema] of Object.entries(shape)) {
    const parsed = schema.safeParse(undefined);
    if (parsed.success) config[key] = parsed.data;
  }
  return config;
}

function rootModule<S extends z.ZodRawShape>(def: ServiceDefinition<S>, ctx: ServiceContext<any>, readiness: ReadinessCheck[]): Type {
  const config = ctx.config as BaseConfig;
  const providers = [
    { provide: CONFIG, useValue: ctx.config },
    ...(ctx.dataSource ? [{ provide: ctx.dataSource.constructor, useValue: ctx.dataSource }] : []),
    { provide: Metrics, useValue: ctx.metrics },
    { provide: READINESS_CHECKS, useValue: readiness },
    { provide: KIT_OPTIONS, useValue: { adminApiKey: config.ADMIN_API_KEY, dataSource: ctx.dataSource, name: def.name } },
    ...(ctx.bus ? [{ provide: Bus, useValue: ctx.bus }] : []),
    ...(ctx.bus && ctx.dataSource ? [{ provide: Outbox, useValue: new Outbox({ producer: def.name }) }] : []),
    ...(ctx.store ? [{ provide: ObjectStore, useValue: ctx.store }] : []),
    ...(ctx.redis ? [{ provide: Redis, useValue: ctx.redis }] : []),
  ];

  @Global()
  @Module({ providers, exports: providers.map((p) => p.provide) })
  class ServiceContextModule {}

  @Module({
    imports: [
      ServiceContextModule,
      LoggerModule.forRoot({
        pinoHttp: {
          level: config.LOG_LEVEL,
          name: def.name,
          redact: ['req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers.cookie'],
          autoLogging: { ignore: (req) => /^\/(health|ready|metrics)\b/.test(req.url ?? '') },
          customProps: (req) => ({ correlationId: req.headers['x-correlation-id'] }),
        },
      }),
      TerminusModule.forRoot({ logger: false }),
      ...def.modules(ctx),
    ],
    // A service without a database keeps no API keys: it has no /api-keys routes (404), not routes that always fail.
    // A service with consumers (a platform bus and a database) lists and redrives its dead letters.
    controllers: [
      HealthController,
      MetricsController,
      ...(ctx.dataSource ? [ApiKeysController] : []),
      ...(def.uses.bus === true && ctx.dataSource ? [DeadLettersController] : []),
    ],
    providers: [
      ApiKeysService,
      { provide: APP_GUARD, useClass: ApiKeyGuard },
      { provide: APP_FILTER, useValue: new ErrorFilter(def.errorShape) },
      { provide: APP_PIPE, useClass: ContractPipe },
      { provide: APP_INTERCEPTOR, useClass: ZodSerializerInterceptor },
    ],
  })
  class ServiceRootModule implements NestModule {
    configure(consumer: MiddlewareConsumer) {
      consumer.apply(HttpMetricsMiddleware, CorrelationMiddleware).forRoutes('*path');
    }
  }
  Object.defineProperty(ServiceRootModule, 'name', { value: `${def.title.replace(/\W/g, '')}RootModule` });
  return ServiceRootModule;
}

/**
 * The whole of a service's main.ts. A bad setting stops the process before anything starts,
 * with a message naming the setting; SIGTERM drains HTTP, bus and database within the grace period.
 * With `MIGRATE_ONLY=true` it applies the migrations and exits instead (see runMigrationsOnly).
 */
export async function runService<S extends z.ZodRawShape>(def: ServiceDefinition<S>): Promise<void> {
  await runMigrationsOnly(def);
  let running: RunningService<unknown>;
  try {
    running = await createService(def);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${def.name}: ${e.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    process.stderr.write(`${def.name}: failed to start: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  }
  const grace = (running.ctx.config as BaseConfig).SHUTDOWN_GRACE_MS;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    running.app.get(Logger).log(`${signal}: shutting down`);
    setTimeout(() => {
      process.stderr.write(`${def.name}: shutdown took longer than ${grace} ms, exiting\n`);
      process.exit(1);
    }, grace).unref();
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  running.app
    .get(Logger)
    .log(`${def.name} listening on ${running.url} (docs ${running.url}/docs, health ${running.url}/ready, metrics ${running.url}/metrics)`);
}

/**
 * `MIGRATE_ONLY=true`: applies the migrations and exits 0 (1 when a migration fails, 78 for a bad
 * setting, or for a service without a database); returns, doing nothing, when it is not set.
 */
async function runMigrationsOnly<S extends z.ZodRawShape>(def: ServiceDefinition<S>): Promise<void> {
  let applied: string[];
  try {
    if (!loadConfig({ MIGRATE_ONLY: databaseSettings.MIGRATE_ONLY }, process.env).MIGRATE_ONLY) return;
    applied = await migrateService(def);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${def.name}: ${e.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    process.stderr.write(`${def.name}: migrations failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  }
  process.stdout.write(`${def.name}: ${applied.length ? `applied ${applied.join(', ')}` : 'schema up to date, no migration to apply'}\n`);
  process.exit(0);
}

/**
 * Requests Node's HTTP parser refuses before any route sees them (headers over the server's
 * limit, a request line that does not parse) get a status and a JSON body like every other error,
 * instead of Node's bare 431 or 400 with no body.
 */
function answerMalformedRequests(server: import('node:http').Server, shape?: ErrorShape) {
  server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: import('node:stream').Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, reason, body]: [number, string, Problem] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [
            431,
            'Request Header Fields Too Large',
            problem(431, 'header_too_large', 'the request headers are larger than this server accepts (16 KB in all); send less in them'),
          ]
        : err.code === 'HPE_HEADERS_TIMEOUT' || err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'Request Timeout', problem(408, 'request_timeout', 'the request headers did not arrive in time')]
          : [400, 'Bad Request', problem(400, 'invalid_argument', `the request is not valid HTTP (${err.code ?? err.message})`)];
    const path = /^[A-Z]+ (\S+)/.exec(err.rawPacket?.toString('latin1') ?? '')?.[1] ?? '';
    const own = shape && path.startsWith(shape.pathPrefix);
    const json = JSON.stringify(own ? shape.render(status, body) : body);
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\ncontent-type: ${own ? 'application/json' : PROBLEM_CONTENT_TYPE}; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(json)}\r\nconnection: close\r\n\r\n${json}`,
    );
  });
}
