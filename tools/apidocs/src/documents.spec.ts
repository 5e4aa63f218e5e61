import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Parser } from '@asyncapi/parser';
import { SUBJECTS } from '@clopen/bus';
import { ASYNCAPI_FILE, REGENERATE, asyncApiYaml, generatedDocuments, staleDocuments } from './documents';
import { findServices } from './openapi';

const root = join(__dirname, '../../..');

describe('API documents', () => {
  let docs: Map<string, string>;

  beforeAll(async () => {
    docs = await generatedDocuments(root);
  });

  it(`are committed as generated (else: ${REGENERATE})`, () => {
    expect(staleDocuments(root, docs)).toEqual([]);
  });

  it('come out the same from the same sources', () => {
    expect(asyncApiYaml(root)).toBe(docs.get(ASYNCAPI_FILE));
  });

  it('include an OpenAPI document for every service, found without a list to keep', () => {
    const services = findServices(root).map((s) => s.folder);
    expect(services).toEqual(expect.arrayContaining(['access', 'chain-indexer', 'distribution', 'embedder', 'host-gateway', 'incentives', 'storage']));
    expect(services).not.toContain('platform-e2e');
    for (const service of services) {
      const doc = JSON.parse(docs.get(`docs/openapi/${service}.json`)!);
      expect(doc.openapi).toMatch(/^3\./);
      // A service without a database (the host gateway) keeps no API keys and has no /api-keys routes.
      expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(service === 'host-gateway' ? ['/health', '/v1/completions'] : ['/health', '/api-keys']));
    }
    expect(Object.keys(JSON.parse(docs.get('docs/openapi/host-gateway.json')!).paths)).not.toContain('/api-keys');
    expect(Object.keys(JSON.parse(docs.get('docs/openapi/access.json')!).paths)).toEqual(
      expect.arrayContaining(['/grants', '/epochs/proof', '/hosts/serving-keys']),
    );
  });
});

describe('the AsyncAPI document', () => {
  let parsed: Awaited<ReturnType<Parser['parse']>>;

  beforeAll(async () => {
    parsed = await new Parser().parse(readFileSync(join(root, ASYNCAPI_FILE), 'utf8'));
  });

  it('is valid AsyncAPI 3.0 (@asyncapi/parser: no error, no warning)', () => {
    const serious = parsed.diagnostics.filter((d) => d.severity <= 1).map((d) => `${d.code}: ${d.message} at ${d.path.join('.')}`);
    expect(serious).toEqual([]);
    expect(parsed.document?.version()).toBe('3.0.0');
  });

  it('has one channel per subject, addressed by the subject, with its proto message as payload', () => {
    const doc = parsed.document!;
    for (const [subject, spec] of Object.entries(SUBJECTS)) {
      const channel = doc.channels().get(subject);
      expect(channel?.address()).toBe(subject);
      const message = channel!.messages().all()[0];
      expect(message.json('x-clopen-proto')).toBe(spec.kind === 'event' ? spec.schema.typeName : spec.request.typeName);
      expect(message.contentType()).toBe('application/x-protobuf');
      if (spec.kind === 'event') expect(message.headers()?.required()).toContain('Nats-Msg-Id');
    }
  });

  it('describes payloads in the protobuf JSON mapping, with the comments of proto/', () => {
    const report = parsed.document!.channels().get('access.usage.reported')!.messages().all()[0].payload()!;
    const props = report.properties()!;
    expect(Object.keys(props)).toEqual(['receipts', 'hostAddress', 'hostKeyId', 'batchSignature']);
    expect(props.hostAddress.description()).toContain('clopen-receipt-batch-v1');
    expect(props.batchSignature.json()).toMatchObject({ type: 'string', contentEncoding: 'base64' });
    const epoch = parsed.document!.channels().get('access.epoch.closed')!.messages().all()[0].payload()!.properties()!;
    expect(epoch.epoch.json()).toMatchObject({ type: 'string', format: 'uint64' });
    expect(epoch.startedAt.json()).toMatchObject({ type: 'string', format: 'date-time' });
  });

  it('names who publishes and who consumes, and answers requests on a reply channel', () => {
    const doc = parsed.document!;
    const ops = (subject: string) =>
      doc
        .operations()
        .all()
        .filter((o) =>
          o
            .channels()
            .all()
            .some((c) => c.address() === subject),
        )
        .map((o) => `${o.action()} ${o.tags().all()[0].name()}`);
    expect(ops('access.usage.reported')).toEqual(['receive access', 'send host-gateway', 'send partner']);
    expect(ops('access.usage.reported.{partnerId}')).toEqual(['receive access']);
    expect(ops('access.grant.revoked')).toEqual(['send access', 'receive host-gateway', 'receive partner']);
    expect(ops('chain.collateral.slash_appealed')).toEqual(['send chain-indexer', 'receive incentives']);
    const answer = doc.operations().get('storage.model.get.receive.storage')!;
    expect(
      answer
        .reply()
        ?.messages()
        .all()
        .map((m) => m.json('x-clopen-proto')),
    ).toEqual(['clopen.storage.v1.ModelGetResponse', 'clopen.bus.v1.Error']);
  });
});
