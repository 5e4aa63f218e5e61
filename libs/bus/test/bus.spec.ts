import { Bus, BusRequestError, decodeEnvelope } from '../src';
import { NATS_URL, streamMessages, testNamespace } from './support';

describe('Bus (real NATS)', () => {
  const ns = testNamespace();
  let bus: Bus;

  beforeAll(async () => {
    bus = await ns.connect('storage');
    await bus.ensureStreams();
  });
  afterAll(async () => {
    await bus.close();
    await ns.cleanup();
  });

  it('creates namespaced streams idempotently, capturing events only', async () => {
    await bus.ensureStreams();
    const info = await bus.jsm.streams.info(`${ns.namespace}_STORAGE`);
    expect(info.config.subjects.sort()).toEqual([`${ns.namespace}.storage.model.registered`, `${ns.namespace}.storage.version.published`]);
    expect(info.config.duplicate_window).toBe(120_000_000_000);
    expect(info.config.storage).toBe('file');
    expect((await bus.jsm.streams.info(`${ns.namespace}_DLQ`)).config.subjects).toEqual([`${ns.namespace}.dlq.>`]);
  });

  it('publishes an envelope with mirrored headers and a typed payload', async () => {
    const res = await bus.publish('storage.model.registered', { model: { id: 'm1', name: 'llama', ownerId: 'alice' } }, { correlationId: 'corr-1' });
    expect(res.duplicate).toBe(false);
    const stored = await bus.jsm.streams.getMessage(`${ns.namespace}_STORAGE`, { seq: res.seq });
    expect(stored.subject).toBe(`${ns.namespace}.storage.model.registered`);
    expect(stored.header.get('Nats-Msg-Id')).toBe(res.id);
    expect(stored.header.get('Clopen-Producer')).toBe('storage');
    expect(stored.header.get('Clopen-Correlation-Id')).toBe('corr-1');
    expect(stored.header.get('Clopen-Occurred-At')).toMatch(/^\d{4}-\d\d-\d\dT/);
    const { envelope, payload } = decodeEnvelope(stored.data, 'storage.model.registered');
    expect(envelope.subject).toBe('storage.model.registered'); // un-prefixed
    expect(envelope.id).toBe(res.id);
    expect(payload.model?.name).toBe('llama');
  });

  it('JetStream drops a second publish of the same envelope (Nats-Msg-Id)', async () => {
    const env = bus.newEnvelope('storage.version.published', { ownerId: 'alice' });
    const before = (await bus.jsm.streams.info(`${ns.namespace}_STORAGE`)).state.messages;
    const first = await bus.publishEnvelope(env);
    const second = await bus.publishEnvelope(env);
    expect(first.duplicate).toBe(false);
    expect(second.duplicate).toBe(true);
    expect(second.seq).toBe(first.seq);
    expect((await bus.jsm.streams.info(`${ns.namespace}_STORAGE`)).state.messages).toBe(before + 1);
    expect((await streamMessages(bus, `${ns.namespace}_STORAGE`)).filter((m) => m.header.get('Nats-Msg-Id') === env.id)).toHaveLength(1);
  });

  it('answers requests and raises coded errors as BusRequestError', async () => {
    const responder = bus.reply('storage.model.get', async (req, envelope) => {
      expect(envelope.producer).toBe('access');
      if (req.id === 'missing') throw Object.assign(new Error(`model ${req.id} not found`), { code: 'not_found' });
      if (req.id === 'crash') throw new Error('db down');
      return { model: { id: req.id, name: 'llama' } };
    });
    const client = await Bus.connect({ servers: NATS_URL, producer: 'access', namespace: ns.namespace });
    try {
      const res = await client.request('storage.model.get', { id: 'm1' }, { timeoutMs: 2_000 });
      expect(res.$typeName).toBe('clopen.storage.v1.ModelGetResponse');
      expect(res.model).toMatchObject({ id: 'm1', name: 'llama' });
      await expect(client.request('storage.model.get', { id: 'missing' }, { timeoutMs: 2_000 })).rejects.toMatchObject({
        name: 'BusRequestError',
        code: 'not_found',
        message: 'model missing not found',
      });
      await expect(client.request('storage.model.get', { id: 'crash' })).rejects.toMatchObject({ code: 'internal' });
      const err = await client.request('storage.version.get', { id: 'v1' }, { timeoutMs: 500 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BusRequestError);
      expect((err as BusRequestError).code).toBe('unavailable');
    } finally {
      await responder.stop();
      await client.close();
    }
  });

  it('a request to a slow responder times out with code "timeout"', async () => {
    const responder = bus.reply('storage.version.get', async () => {
      await new Promise((r) => setTimeout(r, 300));
      return { version: { id: 'v1' } };
    });
    try {
      await expect(bus.request('storage.version.get', { id: 'v1' }, { timeoutMs: 100 })).rejects.toMatchObject({ code: 'timeout' });
    } finally {
      await responder.stop();
    }
  });
});
