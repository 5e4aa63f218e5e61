import { Body, Controller, Get, Module, Post } from '@nestjs/common';
import { currentCause } from '@clopen/bus';
import { ConfigError, baseSettings, databaseSettings, redisSettings } from '@clopen/config';
import { createTestDatabase, testInfra, type TestDatabase } from '@clopen/testing';
import { z } from 'zod';
import {
  Conflict,
  CurrentPrincipal,
  Public,
  Roles,
  ZodResponse,
  createService,
  createZodDto,
  previewOpenApiDocument,
  type Principal,
  type RunningService,
  type ServiceDefinition,
} from '../src';

class OrderBody extends createZodDto(z.object({ item: z.string().min(1, 'item must name something'), count: z.number().int().positive() })) {}
class OrderDto extends createZodDto(z.object({ item: z.string(), count: z.number().int() })) {}

@Controller('things')
class ThingsController {
  @Public()
  @Get('public')
  open() {
    return { ok: true };
  }

  @Roles('prover')
  @Get('mine')
  mine(@CurrentPrincipal() p: Principal) {
    return { id: p.id, roles: p.roles };
  }

  @Get('conflict')
  conflict() {
    throw new Conflict('thing 7 already exists; pick another name');
  }

  @Get('crash')
  crash() {
    throw new Error('secret internal detail');
  }

  @Public()
  @Post('echo')
  echo(@Body() body: unknown) {
    return { body };
  }

  @Public()
  @Post('orders')
  @ZodResponse({ status: 201, type: OrderDto })
  order(@Body() body: OrderBody) {
    return { ...body, internalCost: 42 };
  }

  @Public()
  @Get('cause')
  cause() {
    return { cause: currentCause() ?? null };
  }
}

@Module({ controllers: [ThingsController] })
class ThingsModule {}

const settings = { ...baseSettings, ...databaseSettings, ...redisSettings };
const definition: ServiceDefinition<typeof settings> = {
  name: 'kit_test',
  title: 'Kit test',
  description: 'a service for testing the kit',
  settings,
  entities: [],
  migrations: [],
  uses: { redis: true },
  modules: () => [ThingsModule],
};
const ADMIN = 'kit-admin-key-0123456789abcdef';

describe('service kit', () => {
  let db: TestDatabase;
  let svc: RunningService<any>;
  const get = (path: string, key?: string) => fetch(svc.url + path, { headers: key ? { 'x-api-key': key } : {} });

  beforeAll(async () => {
    db = await createTestDatabase();
    svc = await createService(definition, {
      ADMIN_API_KEY: ADMIN,
      DATABASE_URL: db.url,
      REDIS_URL: testInfra.redisUrl,
      HTTP_PORT: '0',
      HTTP_HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
    });
  });
  afterAll(async () => {
    await svc?.close();
    await db?.drop();
  });

  it('refuses to start on bad settings, naming each', async () => {
    const err = await createService(definition, { HTTP_PORT: 'x', DATABASE_URL: 'mysql://nope' }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.issues.map((i: { setting: string }) => i.setting).sort()).toEqual(['ADMIN_API_KEY', 'DATABASE_URL', 'HTTP_PORT', 'REDIS_URL']);
  });

  it('serves public routes, guards the rest with keys and roles', async () => {
    expect((await get('/things/public')).status).toBe(200);
    expect((await get('/things/mine')).status).toBe(401);
    const issued: any = await (
      await fetch(`${svc.url}/api-keys`, {
        method: 'POST',
        headers: { 'x-api-key': ADMIN, 'content-type': 'application/json' },
        body: JSON.stringify({ principalId: 'pat', roles: ['prover'] }),
      })
    ).json();
    expect(issued.key).toMatch(/^clp_/);
    expect(await (await get('/things/mine', issued.key)).json()).toEqual({ id: 'pat', roles: ['prover'] });
    const owner: any = await (
      await fetch(`${svc.url}/api-keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ principalId: 'olga', roles: ['owner'] }),
      })
    ).json();
    const denied = await get('/things/mine', owner.key);
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as any).detail).toContain('needs the role prover');
    const stored = await svc.ctx.dataSource!.query('SELECT key_hash FROM kit_test.api_keys');
    expect(stored.every((r: { key_hash: Buffer }) => !r.key_hash.toString('utf8').includes(issued.key))).toBe(true);
  });

  it('refuses bad key requests clearly', async () => {
    const res = await fetch(`${svc.url}/api-keys`, {
      method: 'POST',
      headers: { 'x-api-key': ADMIN, 'content-type': 'application/json' },
      body: JSON.stringify({ principalId: 'x', roles: ['emperor'] }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).detail).toContain('roles must be');
  });

  it('validates a body against its contract, and answers only what the response contract names', async () => {
    const order = (body: unknown) =>
      fetch(`${svc.url}/things/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const ok = await order({ item: 'tea', count: 2 });
    expect(ok.status).toBe(201);
    expect(await ok.json()).toEqual({ item: 'tea', count: 2 }); // internalCost is not in OrderDto
    const bad = await order({ item: '', count: 1.5 });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await bad.json()).toMatchObject({
      code: 'invalid_argument',
      detail: expect.stringMatching(/^invalid request body: item: item must name something; count: /),
      details: { problems: ['item: item must name something', 'count: Expected integer, received float'] },
    });
    const doc = (await (await get('/docs/openapi.json')).json()) as any;
    expect(doc.paths['/things/orders'].post.requestBody.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/OrderBody' });
    expect(doc.paths['/things/orders'].post.responses['201'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/OrderDto' });
    expect(doc.paths['/things/orders'].post.responses.default.content['application/problem+json'].schema).toEqual({ $ref: '#/components/schemas/Problem' });
  });

  it('serves a request that carries X-Correlation-Id inside that correlation, and echoes it', async () => {
    const res = await fetch(`${svc.url}/things/cause`, { headers: { 'x-correlation-id': 'alice-story-1' } });
    expect(res.headers.get('x-correlation-id')).toBe('alice-story-1');
    expect(await res.json()).toEqual({ cause: { correlationId: 'alice-story-1', causationId: '' } });
    expect(await (await get('/things/cause')).json()).toEqual({ cause: null });
  });

  it('maps domain errors once and hides internal ones', async () => {
    const conflict = await get('/things/conflict', ADMIN);
    expect(conflict.status).toBe(409);
    // One shape for every error: an RFC 9457 problem, typed by the domain error's class.
    expect(conflict.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await conflict.json()).toEqual({
      type: 'https://clopen.dev/problems/conflict',
      title: 'Conflict',
      status: 409,
      code: 'conflict',
      detail: 'thing 7 already exists; pick another name',
      instance: '/things/conflict',
    });
    const crash = await get('/things/crash', ADMIN);
    expect(crash.status).toBe(500);
    expect(JSON.stringify(await crash.json())).not.toContain('secret');
  });

  it('answers a body too large, JSON that does not parse and headers over the limit with their status and a JSON body', async () => {
    const post = (body: string, headers: Record<string, string> = {}) =>
      fetch(`${svc.url}/things/echo`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    expect(await (await post('{"a":1}')).json()).toEqual({ body: { a: 1 } });
    const large = await post(JSON.stringify({ a: 'x'.repeat(200_000) }));
    expect(large.status).toBe(413);
    expect(await large.json()).toMatchObject({ code: 'payload_too_large', detail: expect.stringMatching(/larger than the \d+ bytes/) });
    const malformed = await post('{"a": ');
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ code: 'invalid_argument', detail: expect.stringMatching(/^the request body is not valid JSON/) });
    const charset = await post('{}', { 'content-type': 'application/json; charset=klingon' });
    expect(charset.status).toBe(415);
    const header = await fetch(`${svc.url}/things/public`, { headers: { 'x-junk': 'x'.repeat(64 * 1024) } });
    expect(header.status).toBe(431);
    expect(await header.json()).toMatchObject({ code: 'header_too_large', detail: expect.stringMatching(/headers are larger/) });
    expect((await get('/things/public')).status).toBe(200); // and the server goes on
  });

  it('reports liveness, readiness of its dependencies, metrics and OpenAPI', async () => {
    expect((await get('/health')).status).toBe(200);
    const ready: any = await (await get('/ready')).json();
    expect(ready.details).toEqual({ postgres: { status: 'up' }, redis: { status: 'up' } });
    const metrics = await (await get('/metrics')).text();
    expect(metrics).toMatch(/http_request_duration_seconds_count\{.*route="\/things\/conflict".*status="409"/);
    expect(metrics).toContain('process_resident_memory_bytes');
    const doc: any = await (await get('/docs/openapi.json')).json();
    expect(doc.info.title).toBe('Kit test');
    expect(Object.keys(doc.paths)).toContain('/api-keys');
  });

  it('builds, without starting anything, the same OpenAPI document it serves (docs/openapi/ is exported so)', async () => {
    const served = await (await get('/docs/openapi.json')).json();
    expect(await previewOpenApiDocument(definition)).toEqual(served);
  });

  it('reports not ready, naming the dependency, when one is lost', async () => {
    svc.ctx.redis!.disconnect();
    const res = await get('/ready');
    expect(res.status).toBe(503);
    const body: any = await res.json();
    expect(body.details.redis.status).toBe('down');
    expect(body.details.postgres.status).toBe('up');
    expect(body).toMatchObject({ type: 'https://clopen.dev/problems/not-ready', status: 503, detail: 'not ready: redis down' });
    expect((await get('/health')).status).toBe(200);
  });
});

describe('service kit without a database', () => {
  const stateless = { ...baseSettings };
  let svc: RunningService<any>;

  beforeAll(async () => {
    svc = await createService({ ...definition, name: 'kit_stateless', settings: stateless, uses: { database: false } } as ServiceDefinition<typeof stateless>, {
      ADMIN_API_KEY: ADMIN,
      HTTP_PORT: '0',
      HTTP_HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
    });
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('starts with no DATABASE_URL, is ready, and takes only the bootstrap admin key', async () => {
    expect(svc.ctx.dataSource).toBeUndefined();
    expect((await fetch(`${svc.url}/ready`)).status).toBe(200);
    expect((await fetch(`${svc.url}/things/public`)).status).toBe(200);
    expect((await fetch(`${svc.url}/things/mine`, { headers: { 'x-api-key': 'clp_unknown' } })).status).toBe(401);
    const issue = await fetch(`${svc.url}/api-keys`, {
      method: 'POST',
      headers: { 'x-api-key': ADMIN, 'content-type': 'application/json' },
      body: JSON.stringify({ principalId: 'p', roles: ['prover'] }),
    });
    expect(issue.status).toBe(404); // it keeps no API keys: the routes do not exist
    expect(((await issue.json()) as { code: string }).code).toBe('not_found');
  });
});
