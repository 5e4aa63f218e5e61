// The shipped NATS configuration (infra/nats), written for keys made here, on a nats-server of this
// suite's own: partners publish their usage and read revocations, and nothing else; services publish
// their own context and read their own consumers. Each refusal is the server's permissions violation
// as the client reports it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { ErrorCode, connect, nkeyAuthenticator, nkeys, type NatsConnection, type NatsError } from 'nats';
import type { DataSource } from 'typeorm';
import {
  Bus,
  PARTNER_JS_API_PREFIX,
  SERVICE_GRANTS,
  consumeBatches,
  newEnvelope,
  encodeEnvelope,
  serviceInbox,
  type BatchItem,
  type ConsumerHandle,
  type ServiceName,
} from '@clopen/bus';
import { ReceiptPublisher, RejectionFeed, RevocationFeed, generateUserKey, signReceipt } from '@clopen/host-sdk';
import { eventually, freePort } from '@clopen/testing';
import { renderNatsServerConfig } from '../nats/server-config';

const NATS_SERVER = '/usr/sbin/nats-server';
const HOST_A = '0x1737C8D529A6692bDFA1baaFA3106C1028F29ACc';
jest.setTimeout(30_000);

interface Identity {
  seed: string;
  publicKey: string;
}
const newIdentity = (): Identity => {
  const user = nkeys.createUser();
  return { seed: new TextDecoder().decode(user.getSeed()), publicKey: user.getPublicKey() };
};

const SERVICES: ServiceName[] = ['storage', 'access', 'chain_indexer', 'incentives'];
const services = Object.fromEntries(SERVICES.map((s) => [s, newIdentity()])) as Record<ServiceName, Identity>;
const partners = { acme: newIdentity(), beta: newIdentity() };

let server: ChildProcess;
let dir: string;
let url: string;
const open: { close(): Promise<void> }[] = [];

const serviceBus = async (service: ServiceName) => {
  const bus = await Bus.connect({ servers: url, producer: service, nkeySeed: services[service].seed, inboxPrefix: serviceInbox(service) });
  open.push(bus);
  return bus;
};
const partnerBus = async (partner: keyof typeof partners) => {
  const bus = await Bus.connect({ servers: url, producer: `partner-${partner}`, nkeySeed: partners[partner].seed, jsApiPrefix: PARTNER_JS_API_PREFIX });
  open.push(bus);
  return bus;
};

/** Permission violations the server reported to this connection (publishes are fire-and-forget). */
function violations(nc: NatsConnection): string[] {
  const seen: string[] = [];
  void (async () => {
    for await (const s of nc.status())
      if (s.type === 'error' && s.data === ErrorCode.PermissionsViolation)
        seen.push(String((s as { permissionContext?: { subject: string } }).permissionContext?.subject));
  })();
  return seen;
}

/** Publishes on core NATS and resolves with the violation the server answered, or undefined. */
async function publishRefusal(nc: NatsConnection, seen: string[], subject: string): Promise<string | undefined> {
  nc.publish(subject, new Uint8Array([1]));
  await nc.flush();
  await eventually(() => seen.includes(subject), { timeoutMs: 2_000, intervalMs: 10, what: `a violation for ${subject}` }).catch(() => undefined);
  return seen.includes(subject) ? subject : undefined;
}

/** Subscribes and resolves with the error the subscription ended with. */
async function subscribeRefusal(nc: NatsConnection, subject: string): Promise<NatsError> {
  const sub = nc.subscribe(subject);
  try {
    for await (const _ of sub) throw new Error(`received a message on ${subject}`);
  } catch (err) {
    return err as NatsError;
  }
  throw new Error(`the subscription to ${subject} ended without an error`);
}

const usageEnvelope = (producer: string) => encodeEnvelope(newEnvelope('access.usage.reported', { hostAddress: HOST_A, receipts: [] }, { producer }));

/** access's bookkeeping of processed messages is not what this suite is about: a transaction that accepts every id. */
const noBookkeeping = {
  transaction: async (work: (m: unknown) => Promise<void>) =>
    work({
      getRepository: () => ({ metadata: { tablePath: 'processed' } }),
      query: async (_sql: string, [, ids]: [string, string[]]) => ids.map((id) => ({ message_id: id })),
    }),
} as unknown as DataSource;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'clopen-nats-accounts-'));
  const port = await freePort();
  url = `nats://127.0.0.1:${port}`;
  const config = renderNatsServerConfig(
    {
      services: Object.fromEntries(SERVICES.map((s) => [s, [services[s].publicKey]])),
      partners: { acme: [partners.acme.publicKey], beta: [partners.beta.publicKey] },
    },
    { listen: `127.0.0.1:${port}`, storeDir: join(dir, 'jetstream') },
  );
  writeFileSync(join(dir, 'nats-server.conf'), config);
  let log = '';
  server = spawn(NATS_SERVER, ['-c', join(dir, 'nats-server.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  server.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  await eventually(() => log.includes('Server is ready') || (server.exitCode !== null && Promise.reject(new Error(log))), {
    timeoutMs: 10_000,
    what: 'nats-server',
  });
  // Every service ensures the streams at start; with the shipped permissions too.
  await (await serviceBus('access')).ensureStreams();
});

afterAll(async () => {
  for (const c of open.reverse()) await c.close().catch(() => undefined);
  server?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('NATS accounts: partners', () => {
  it('refuses a connection without a known nkey', async () => {
    await expect(connect({ servers: url, reconnect: false })).rejects.toMatchObject({ code: ErrorCode.AuthorizationViolation });
    const stranger = nkeys.createUser().getSeed();
    await expect(connect({ servers: url, reconnect: false, authenticator: nkeyAuthenticator(stranger) })).rejects.toMatchObject({
      code: ErrorCode.AuthorizationViolation,
    });
  });

  it("lands a partner's usage in ACCESS under its own id, and access consumes it knowing who sent it", async () => {
    const acme = await partnerBus('acme');
    const spool = mkdtempSync(join(dir, 'spool-'));
    const servingKey = generateUserKey();
    const publisher = await ReceiptPublisher.open({ bus: acme, host: HOST_A, servingKey, hostKeyId: 'k1', spoolDir: spool, flushIntervalMs: 50 });
    const permission = { grantId: '0190a8c4-5b7e-7d2a-9c11-2f4e6a8b0c3d', counter: 1n, modelId: 'm', userSignature: new Uint8Array(64) };
    publisher.record(signReceipt(servingKey, 'k1', { permission, host: HOST_A, requestBody: 'q', responseBody: 'a', tokensIn: 1, tokensOut: 1 }));
    await eventually(() => publisher.pending === 0, { timeoutMs: 5_000, what: "JetStream's ack of the partner's batch" });
    await publisher.close();

    const access = await serviceBus('access');
    const { state } = await access.jsm.streams.info('ACCESS', { subjects_filter: 'access.usage.reported.>' });
    expect(state.subjects).toEqual({ 'access.usage.reported.acme': 1 });

    const received: BatchItem<'access.usage.reported'>[] = [];
    const consumer: ConsumerHandle = await consumeBatches({
      bus: access,
      dataSource: noBookkeeping,
      durable: 'access',
      subject: 'access.usage.reported',
      fromPartners: true,
      handler: async (items) => void received.push(...items),
    });
    try {
      await eventually(() => received.length === 1, { what: "access's partner consumer" });
      expect(received[0].partner).toBe('acme');
      expect(received[0].payload.hostAddress).toBe(HOST_A);
      expect(received[0].payload.receipts).toHaveLength(1);
    } finally {
      await consumer.stop();
    }
  });

  it('follows revocations, the one stream a partner may read', async () => {
    const feed = await RevocationFeed.follow(await partnerBus('beta'));
    try {
      const access = await serviceBus('access');
      await access.publish('access.grant.revoked', { grantId: 'g-revoked', reason: 'key lost' });
      await eventually(() => feed.isRevoked('g-revoked'), { timeoutMs: 5_000, what: 'the revocation at the partner' });
    } finally {
      await feed.close();
    }
  });

  it('reads the refusals of its own receipts through its own durable, and no other partner reads them', async () => {
    const got: { acme: string[]; beta: string[] } = { acme: [], beta: [] };
    const acmeFeed = await RejectionFeed.follow(await partnerBus('acme'), 'acme', (r) => void got.acme.push(r.reason));
    try {
      const access = await serviceBus('access');
      const rejection = newEnvelope(
        'access.usage.rejected',
        { grantId: 'g1', counter: 1n, hostAddress: HOST_A, reason: 'over_quota', message: 'spent', partner: 'acme' },
        { producer: 'access' },
      );
      expect((await access.publishEnvelope(rejection, 'access.usage.rejected.acme')).stream).toBe('PARTNERS');
      await eventually(() => got.acme.length === 1, { timeoutMs: 5_000, what: "acme's refusal at acme" });
      expect(got.acme).toEqual(['over_quota']);

      // beta: not through acme's durable, not with acme's filter under its own name, not by subscribing
      const beta = await partnerBus('beta');
      await expect(beta.js.consumers.get('PARTNERS', acmeFeed.consumerName)).rejects.toMatchObject({ code: ErrorCode.PermissionsViolation });
      await expect(
        beta.jsm.consumers.add('PARTNERS', { durable_name: 'beta__access_usage_rejected', filter_subject: 'access.usage.rejected.acme' }),
      ).rejects.toMatchObject({ code: ErrorCode.PermissionsViolation });
      await expect(
        beta.jsm.consumers.add('PARTNERS', { durable_name: acmeFeed.consumerName, filter_subject: 'access.usage.rejected.acme' }),
      ).rejects.toMatchObject({ code: ErrorCode.PermissionsViolation });
      expect(await subscribeRefusal(beta.connection, 'access.usage.rejected.acme')).toMatchObject({ code: ErrorCode.PermissionsViolation });
      // acme itself cannot widen its durable's filter to every partner's copies
      const acme = await partnerBus('acme');
      await expect(
        acme.jsm.consumers.add('PARTNERS', { durable_name: acmeFeed.consumerName, filter_subject: 'access.usage.rejected.*' }),
      ).rejects.toMatchObject({ code: ErrorCode.PermissionsViolation });
      // beta's own feed sees nothing of acme's
      const betaFeed = await RejectionFeed.follow(beta, 'beta', (r) => void got.beta.push(r.reason));
      await new Promise((r) => setTimeout(r, 300));
      await betaFeed.close();
      expect(got.beta).toEqual([]);
    } finally {
      await acmeFeed.close();
    }
    // the ack crossed back through the import: a new follow gets nothing again
    const again: string[] = [];
    const feed = await RejectionFeed.follow(await partnerBus('acme'), 'acme', (r) => void again.push(r.reason));
    await new Promise((r) => setTimeout(r, 300));
    await feed.close();
    expect(again).toEqual([]);
    const info = await (await partnerBus('acme')).jsm.consumers.info('PARTNERS', 'acme__access_usage_rejected');
    expect(info.num_ack_pending + info.num_pending).toBe(0);
  });

  it('cannot publish as another partner, nor platform events, nor ask platform services', async () => {
    const acme = await partnerBus('acme');
    const seen = violations(acme.connection);
    for (const subject of [
      'access.usage.reported.beta',
      'access.usage.reported.acme',
      'access.epoch.closed',
      'access.grant.revoked',
      'chain.collateral.slash_executed',
      'storage.model.registered',
      'dlq.access.usage.reported',
    ]) {
      expect(await publishRefusal(acme.connection, seen, subject)).toBe(subject);
    }
    // the JetStream way fails the same, and says why
    await expect(acme.publishRaw('access.usage.reported.beta', usageEnvelope('partner-acme'), 'forged-1')).rejects.toMatchObject({
      code: ErrorCode.PermissionsViolation,
      message: expect.stringContaining('Permissions Violation for Publish to "access.usage.reported.beta"'),
    });
    await expect(acme.request('storage.model.get', { id: 'm1' }, { timeoutMs: 2_000 })).rejects.toMatchObject({ code: ErrorCode.PermissionsViolation });

    const access = await serviceBus('access');
    const { state } = await access.jsm.streams.info('ACCESS', { subjects_filter: 'access.usage.reported.beta' });
    expect(state.subjects ?? {}).toEqual({});
  });

  it("cannot read another partner's subjects, platform subjects or other streams", async () => {
    const acme = await partnerBus('acme');
    for (const subject of ['access.usage.reported.beta', 'access.usage.reported.*', 'access.epoch.closed', 'chain.>', '>', '_INBOX_access.>']) {
      expect(await subscribeRefusal(acme.connection, subject)).toMatchObject({
        code: ErrorCode.PermissionsViolation,
        message: expect.stringContaining(`Permissions Violation for Subscription to "${subject}"`),
      });
    }
    // JetStream: no consumer on ACCESS (with every partner's usage), whatever API prefix it tries
    await expect(acme.jsm.consumers.add('ACCESS', { name: 'peek', filter_subject: 'access.usage.reported.beta' })).rejects.toMatchObject({
      code: ErrorCode.PermissionsViolation,
    });
    const platformApi = await Bus.connect({ servers: url, producer: 'partner-acme', nkeySeed: partners.acme.seed, jsApiPrefix: '$JS.API' });
    open.push(platformApi);
    await expect(platformApi.jsm.consumers.add('ACCESS', { name: 'peek', filter_subject: 'access.usage.reported.beta' })).rejects.toMatchObject({
      code: ErrorCode.PermissionsViolation,
    });
  });
});

describe('NATS accounts: services', () => {
  it('grant every service on the bus, by its producer name; the host gateway is a partner', () => {
    const root = join(__dirname, '../..');
    const definitions = readdirSync(join(root, 'services'))
      .flatMap((dir) => {
        const src = join(root, 'services', dir, 'src');
        return existsSync(src)
          ? readdirSync(src)
              .filter((f) => f.endsWith('.service.ts'))
              .map((f) => join(src, f))
          : [];
      })
      .flatMap((file) => Object.values(require(file) as Record<string, unknown>))
      .filter((d): d is { name: string; uses: { bus?: boolean | 'partner' } } => typeof d === 'object' && d !== null && 'uses' in d && 'name' in d);
    expect(definitions.length).toBeGreaterThan(5);
    const onBus = definitions.filter((d) => d.uses.bus === true).map((d) => d.name);
    expect(onBus.filter((name) => !(name in SERVICE_GRANTS))).toEqual([]);
    expect(definitions.filter((d) => d.uses.bus === 'partner').map((d) => d.name)).toEqual(['host_gateway']);
  });

  it("publish their own context's events and not another context's", async () => {
    const indexer = await serviceBus('chain_indexer');
    expect((await indexer.publishRaw('chain.ledger.usage_root_committed', new Uint8Array([1]), 'log-1')).stream).toBe('CHAIN');
    await expect(indexer.publish('access.epoch.closed', { epoch: 1n })).rejects.toMatchObject({
      code: ErrorCode.PermissionsViolation,
      message: expect.stringContaining('Permissions Violation for Publish to "access.epoch.closed"'),
    });
    const storage = await serviceBus('storage');
    await expect(storage.publish('chain.blocks.reorged', {})).rejects.toMatchObject({ code: ErrorCode.PermissionsViolation });
  });

  it('ask each other on their own inboxes: access asks storage, which answers', async () => {
    const storage = await serviceBus('storage');
    const responder = storage.reply('storage.model.get', ({ id }) => ({ model: { id, name: 'tiny' } }));
    try {
      const access = await serviceBus('access');
      expect((await access.request('storage.model.get', { id: 'm1' })).model?.name).toBe('tiny');
      // the indexer asks nothing: the request is refused before it reaches storage
      const indexer = await serviceBus('chain_indexer');
      await expect(indexer.request('storage.model.get', { id: 'm1' }, { timeoutMs: 2_000 })).rejects.toMatchObject({ code: ErrorCode.PermissionsViolation });
    } finally {
      await responder.stop();
    }
  });

  it("never publish as a partner, not even access (a partner's subject is its account's alone)", async () => {
    const access = await serviceBus('access');
    await expect(access.publishRaw('access.usage.reported.acme', usageEnvelope('access'), 'forged-2')).rejects.toMatchObject({
      code: ErrorCode.PermissionsViolation,
    });
  });

  it("read their own consumers and inbox only, not another service's", async () => {
    const incentives = await serviceBus('incentives');
    // access's durable of partner usage exists (created above); incentives may not pull from it
    await expect(incentives.js.consumers.get('ACCESS', 'access__access_usage_reported_partners')).rejects.toMatchObject({
      code: ErrorCode.PermissionsViolation,
    });
    await expect(incentives.jsm.consumers.add('ACCESS', { durable_name: 'incentives__peek', filter_subject: 'access.usage.reported.*' })).rejects.toMatchObject(
      { code: ErrorCode.PermissionsViolation },
    );
    await expect(incentives.jsm.streams.delete('ACCESS')).rejects.toMatchObject({ code: ErrorCode.PermissionsViolation });
    expect(await subscribeRefusal(incentives.connection, '_INBOX_access.>')).toMatchObject({ code: ErrorCode.PermissionsViolation });
    expect(await subscribeRefusal(incentives.connection, 'storage.model.get')).toMatchObject({ code: ErrorCode.PermissionsViolation });
  });
});

describe('NATS accounts: deployment', () => {
  const root = join(__dirname, '../..');
  const compose = (file: string) =>
    parse(readFileSync(join(root, 'docker', file), 'utf8'), { merge: true }).services as Record<
      string,
      { environment?: Record<string, string>; command?: string[]; volumes?: string[] }
    >;

  it('compose: the override runs NATS with the written configuration and gives every service on the bus its seed', () => {
    const base = compose('compose.yaml');
    const override = compose('compose.nats-accounts.yaml');
    const onBus = Object.keys(base).filter((name) => base[name].environment?.NATS_URL);
    expect(onBus.length).toBeGreaterThan(4);
    expect(onBus.filter((name) => !/^\$\{[A-Z_]+_NATS_NKEY_SEED:[?-]/.test(override[name]?.environment?.NATS_NKEY_SEED ?? ''))).toEqual([]);
    const [flag, path] = override.nats.command!;
    expect(flag).toBe('-c');
    const mount = override.nats.volumes!.map((v) => v.split(':')).find(([, target]) => target === path);
    // where `npm run nats:config -- --out .local/nats/nats-server.conf` writes it (the CLI's default --dir)
    expect(resolve(root, 'docker', mount![0])).toBe(join(root, '.local/nats/nats-server.conf'));
  });
});
