import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Bus, readEvents } from '@clopen/bus';
import { accessV1, fromBinary } from '@clopen/proto';
import { createTestBusNamespace, eventually, testInfra, type TestBusNamespace } from '@clopen/testing';
import { batchSigningBytes, generateUserKey, rawPublicKey, ReceiptPublisher, signReceipt, verifyEd25519 } from '../src';

const HOST = '0x1737C8D529A6692bDFA1baaFA3106C1028F29ACc';

/** Receipts are never lost: JetStream unavailable, then a host that dies before it flushed. */
describe('ReceiptPublisher on real JetStream', () => {
  let ns: TestBusNamespace;
  let bus: Bus;
  let spool: string;
  const servingKey = generateUserKey();
  const grantId = randomUUID();
  let counter = 0n;
  const receipt = () => {
    counter += 1n;
    return signReceipt(servingKey, 'k1', {
      permission: { grantId, counter, modelId: 'm', userSignature: new Uint8Array(64) },
      host: HOST,
      requestBody: `r${counter}`,
      responseBody: 'a',
      tokensIn: 1,
      tokensOut: 2,
    });
  };
  const published = async () => {
    const events = await readEvents(bus, 'access.usage.reported');
    return events.flatMap((e) => e.payload.receipts.map((r) => fromBinary(accessV1.ReceiptBodySchema, r.body).counter));
  };

  beforeAll(async () => {
    ns = createTestBusNamespace();
    bus = await Bus.connect({ servers: testInfra.natsUrl, producer: 'host', namespace: ns.namespace });
    spool = mkdtempSync(path.join(os.tmpdir(), 'clopen-spool-'));
  });
  afterAll(async () => {
    await bus.close();
    await ns.cleanup();
    rmSync(spool, { recursive: true, force: true });
  });

  it('spools batches while JetStream refuses them and publishes each once when it is back', async () => {
    // No stream yet: JetStream answers every publish with "no responders", as when it is down.
    const publisher = await ReceiptPublisher.open({
      bus,
      host: HOST,
      servingKey,
      hostKeyId: 'k1',
      spoolDir: spool,
      maxBatch: 3,
      flushIntervalMs: 50,
      retryMs: 50,
    });
    for (let i = 0; i < 7; i += 1) publisher.record(receipt());
    await publisher.flush();
    expect(publisher.pending).toBe(7);
    expect(readdirSync(spool).filter((f) => f.startsWith('batch-'))).toHaveLength(3);

    await bus.ensureStreams();
    await eventually(async () => publisher.pending === 0, { timeoutMs: 10_000, what: 'the spool to drain' });
    await publisher.close();
    expect((await published()).sort((a, b) => Number(a - b))).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n]);
    // Each batch is signed once by the serving key, over its receipts' bodies.
    for (const e of await readEvents(bus, 'access.usage.reported')) {
      const r = e.payload;
      expect(r.hostAddress).toBe(HOST);
      expect(r.receipts.every((x) => x.hostSignature.length === 0)).toBe(true);
      expect(
        verifyEd25519(
          r.batchSignature,
          batchSigningBytes(
            HOST,
            r.receipts.map((x) => x.body),
          ),
          rawPublicKey(servingKey),
        ),
      ).toBe(true);
    }
  });

  it('publishes on the next start what a host recorded before it died', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'clopen-spool-'));
    const before = (await published()).length;
    // A publisher that never flushes (its timer far away), then "dies": only its log on disk remains.
    const dying = await ReceiptPublisher.open({ bus, host: HOST, servingKey, hostKeyId: 'k1', spoolDir: dir, maxBatch: 100, flushIntervalMs: 3_600_000 });
    dying.record(receipt());
    dying.record(receipt());
    const next = await ReceiptPublisher.open({ bus, host: HOST, servingKey, hostKeyId: 'k1', spoolDir: dir, maxBatch: 100, flushIntervalMs: 50 });
    await eventually(async () => (await published()).length === before + 2, { timeoutMs: 10_000, what: 'the two logged receipts published' });
    expect(next.pending).toBe(0);
    await next.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
