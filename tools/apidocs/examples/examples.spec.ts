// The partner page's examples against a real NATS JetStream: what they publish is what the access
// service verifies and counts, and what they consume is what the platform publishes.
import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { connect, type NatsConnection } from 'nats';
import { Bus, PARTNER_JS_API_PREFIX as BUS_PARTNER_JS_API_PREFIX, readEvents } from '@clopen/bus';
import { batchSigningBytes, issueGrant, permissionString, receiptBody as sdkReceiptBody, requestDigestOfHash, userPublicKeyBytes } from '@clopen/host-sdk';
import { accessV1, fromBinary, timestampFromDate } from '@clopen/proto';
import { createTestBusNamespace, eventually, testInfra, type TestBusNamespace } from '@clopen/testing';
import { PARTNER_JS_API_PREFIX, followRevocations } from './follow-revocations';
import { publishUsage, receiptBody, usageBatch, type PartnerHost } from './publish-usage';

const HOST = '0x1737C8D529A6692bDFA1baaFA3106C1028F29ACc';
const MODEL = 'model-1';
const GRANT_ID = '0199a0b1-0000-7000-8000-000000000001';

describe("the partner page's examples", () => {
  let ns: TestBusNamespace;
  let bus: Bus;
  let nc: NatsConnection;

  beforeAll(async () => {
    ns = createTestBusNamespace();
    bus = await Bus.connect({ servers: testInfra.natsUrl, producer: 'access', namespace: ns.namespace });
    await bus.ensureStreams();
    nc = await connect({ servers: testInfra.natsUrl, name: 'partner-example' });
  });
  afterAll(async () => {
    await nc?.close();
    await bus?.close();
    await ns?.cleanup();
  });

  it('publish a usage batch that verifies as access verifies it, once however often it is retried', async () => {
    const issuer = generateKeyPairSync('ed25519').privateKey;
    const user = generateKeyPairSync('ed25519').privateKey;
    const grant = issueGrant(issuer, {
      id: GRANT_ID,
      modelId: MODEL,
      userPublicKey: userPublicKeyBytes(user),
      notBefore: 0,
      expiresAt: 4_000_000_000,
      issuerKeyId: 'i1',
    });
    const requestBody = Buffer.from('{"prompt":"hello"}');
    const responseBody = Buffer.from('{"choices":[{"text":" world"}]}');
    const host: PartnerHost = { address: HOST, keyId: 'k1', servingKey: generateKeyPairSync('ed25519').privateKey };
    const servedAt = new Date('2030-01-02T03:04:05Z');
    const served = (counter: number) => ({
      permission: permissionString(grant, user, counter, { host: HOST, model: MODEL, body: requestBody }),
      requestBody,
      responseBody,
      tokensIn: 3,
      tokensOut: 2,
      servedAt,
    });
    const bodies = [receiptBody(host, served(1)), receiptBody(host, served(2))];

    // The body is byte for byte what the reference host (libs/host-sdk) attests for the same request.
    const { permission, ...request } = served(1);
    const userSignature = fromBinary(accessV1.PermissionStringSchema, Buffer.from(permission, 'base64url')).userSignature;
    expect(Buffer.from(bodies[0])).toEqual(
      Buffer.from(sdkReceiptBody(HOST, { ...request, permission: { grantId: GRANT_ID, counter: 1n, modelId: MODEL, userSignature } })),
    );

    const batch = usageBatch(host, bodies, 'acme-hosting');
    const first = await publishUsage(nc.jetstream(), batch, ns.namespace);
    const retry = await publishUsage(nc.jetstream(), batch, ns.namespace);
    expect(first.duplicate).toBe(false);
    expect(retry).toMatchObject({ duplicate: true, seq: first.seq });

    const [event, ...more] = await readEvents(bus, 'access.usage.reported');
    expect(more).toHaveLength(0);
    expect(event.envelope).toMatchObject({ id: batch.id, subject: 'access.usage.reported', producer: 'acme-hosting', correlationId: batch.id });
    const report = event.payload;
    expect(report).toMatchObject({ hostAddress: HOST, hostKeyId: 'k1' });
    // access's checks (services/access usage.service.ts): one host signature over the batch, one user signature per receipt
    const hostPublicKey = createPublicKey(host.servingKey);
    expect(
      verify(
        null,
        batchSigningBytes(
          report.hostAddress,
          report.receipts.map((r) => r.body),
        ),
        hostPublicKey,
        report.batchSignature,
      ),
    ).toBe(true);
    for (const r of report.receipts) {
      const body = fromBinary(accessV1.ReceiptBodySchema, r.body);
      expect(
        verify(
          null,
          requestDigestOfHash(body.grantId, body.counter, body.hostAddress, body.modelId, body.requestSha256),
          createPublicKey(user),
          body.userSignature,
        ),
      ).toBe(true);
    }
  }, 20_000);

  it("follow revocations as a partner's account may: the mirror stream, replayed on each start", async () => {
    expect(PARTNER_JS_API_PREFIX).toBe(BUS_PARTNER_JS_API_PREFIX);
    const hour = () => timestampFromDate(new Date(Date.now() + 3_600_000));
    const revoke = (grantId: string, expiresAt = hour()) =>
      bus.publish('access.grant.revoked', { grantId, reason: 'refund', revokedAt: timestampFromDate(new Date()), expiresAt });
    await revoke('g1');
    await revoke('g2', timestampFromDate(new Date(Date.now() - 1_000))); // its grant has expired: nothing to refuse
    // Without NATS accounts (tests, a laptop) the platform's streams answer on the default prefix.
    const options = { apiPrefix: '$JS.API', namespace: ns.namespace };

    const first = await followRevocations(nc, options);
    await eventually(() => first.isRevoked('g1'), { timeoutMs: 10_000, what: 'g1 revoked at the partner' });
    expect(first.isRevoked('g2')).toBe(false);
    await revoke('g3');
    await eventually(() => first.isRevoked('g3'), { timeoutMs: 10_000, what: 'g3 revoked while following' });
    await first.stop();

    const restarted = await followRevocations(nc, options);
    await eventually(() => restarted.isRevoked('g1') && restarted.isRevoked('g3'), { timeoutMs: 10_000, what: 'revocations replayed after a restart' });
    expect(restarted.isRevoked('g-never')).toBe(false);
    await restarted.stop();
  }, 40_000);
});
