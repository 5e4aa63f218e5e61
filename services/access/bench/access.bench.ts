/**
 * npm run bench:access — permission checks per second on one core: for grants seen for the first
 * time (issuer signature, then the user's) and for a known grant (only the user's per-request
 * signature). Requests are signed beforehand, so only the host's side is timed.
 * Metrics: checks_per_s_new (goal ≥ 5k), checks_per_s_known (goal ≥ 10k), merkle_1m_seconds
 * (goal ≤ 2 s): an epoch's root and 1,000 inclusion proofs over 1M receipts; receipts_per_s (goal
 * ≥ 20k) from JetStream into PostgreSQL through the access service, and receipts_ratio_raw (goal
 * ≥ 0.25) against a raw JetStream-to-PostgreSQL pipe over the same messages. Needs the local
 * PostgreSQL and NATS (and runs storage for the model); gateway_overhead_ratio: a completion
 * through services/host-gateway over the same completion from the model in-process.
 */
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { AckPolicy, DeliverPolicy, type JsMsg } from 'nats';
import { Client } from 'pg';
import { Bus, decodeEnvelope } from '@clopen/bus';
import { accessV1, fromBinary } from '@clopen/proto';
import { TEST_ADMIN_KEY, api, createTestBusNamespace, createTestDatabase, serviceEnv, spawnService, startTestS3, testInfra, type ServiceProcess } from '@clopen/testing';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBaseModel, exportOnnx } from '@clopen/fingerprint';
import { OnnxCausalLm } from '@clopen/inference';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { prepareReceiptLoad } from '../test/receipt-load';
import { PermissionVerifier, generateUserKey, issueGrant, permissionString, userPublicKeyBytes } from '@clopen/host-sdk';
import { MerkleTree, verifyMerkleProof } from '@clopen/merkle';

const N = Number(process.env.BENCH_CHECKS ?? 20_000);
const HOST = '0x1737C8D529A6692bDFA1baaFA3106C1028F29ACc';
const MODEL = 'model-1';
const body = '{"prompt":"The quick brown fox","max_tokens":16}';
const emit = (metric: string, value: number, unit: string) => console.log(JSON.stringify({ bench: 'access', metric, value: Math.round(value * 1000) / 1000, unit }));

const issuer = generateKeyPairSync('ed25519');
const now = Math.floor(Date.now() / 1000);
const grant = (id: string, user = generateUserKey()) => ({ user, signed: issueGrant(issuer.privateKey, { id, modelId: MODEL, userPublicKey: userPublicKeyBytes(user), notBefore: now - 60, expiresAt: now + 3600, issuerKeyId: 'i1' }) });
const verifier = () => new PermissionVerifier({ host: HOST, issuerKeys: new Map([['i1', issuer.publicKey]]) });

function rate(headers: string[], v: PermissionVerifier): number {
  const t = process.hrtime.bigint();
  for (const h of headers) v.verify(h, { model: MODEL, body });
  return headers.length / (Number(process.hrtime.bigint() - t) / 1e9);
}

// New grants: every request carries a grant this host has not seen.
const fresh = Array.from({ length: N }, (_, i) => {
  const g = grant(`g${i}`);
  return permissionString(g.signed, g.user, 1, { host: HOST, model: MODEL, body });
});
// A known grant: one grant, increasing counters.
const one = grant('known');
const known = Array.from({ length: N }, (_, i) => permissionString(one.signed, one.user, i + 1, { host: HOST, model: MODEL, body }));

rate(fresh.slice(0, 1000), verifier()); // warm-up
const v = verifier();
v.verify(known[0], { model: MODEL, body });
emit('checks_per_s_new', rate(fresh, verifier()), 'checks/s');
emit('checks_per_s_known', rate(known.slice(1), v), 'checks/s');

// An epoch of 1M receipts: leaves hashed beforehand (ingest stores them), then the root and proofs.
const leaves = Array.from({ length: Number(process.env.BENCH_RECEIPTS ?? 1_000_000) }, (_, i) => createHash('sha256').update(`receipt ${i}`).digest());
const t = process.hrtime.bigint();
const tree = new MerkleTree(leaves);
const proofs = Array.from({ length: 1000 }, (_, i) => tree.proof((i * 997) % leaves.length));
const seconds = Number(process.hrtime.bigint() - t) / 1e9;
if (!proofs.every((p) => verifyMerkleProof(tree.root, leaves[p.leafIndex], p))) throw new Error('a proof does not verify');
emit('merkle_1m_seconds', seconds, 's');

// Receipts from JetStream to PostgreSQL through the access service (its real main.ts), and through
// a raw pipe (pull, decode, one multi-row insert, ack; no signature, grant or key) on the same
// messages, in the same run.
void (async () => {
  const total = Number(process.env.BENCH_INGEST_RECEIPTS ?? 100_000);
  const perBatch = 500;
  const [db, ns, s3] = await Promise.all([createTestDatabase(), createTestBusNamespace(), startTestS3()]);
  const bus = await Bus.connect({ servers: testInfra.natsUrl, producer: 'bench-host', namespace: ns.namespace });
  const pg = new Client({ connectionString: db.url });
  let storage: ServiceProcess | undefined;
  let access: ServiceProcess | undefined;
  try {
    await bus.ensureStreams();
    await pg.connect();
    storage = await spawnService('storage', serviceEnv({ db, ns, s3 }));
    const env = { ...serviceEnv({ db, ns }), ACCESS_ISSUER_KEYS: `i1:${randomBytes(32).toString('base64')}`, LOG_LEVEL: 'warn' };
    access = await spawnService('access', env);
    const modelId = (await api(storage.url, TEST_ADMIN_KEY, 'POST', '/models', { name: 'bench-gpt' })).body.id;
    const load = await prepareReceiptLoad(access.url, bus, modelId, 50);
    await access.stop();
    for (const b of load.batches(total, perBatch)) await bus.publish('access.usage.reported', b);

    const count = async (table: string) => Number((await pg.query(`SELECT count(*) FROM ${table}`)).rows[0].count);
    const drain = async (table: string, start: () => Promise<unknown>) => {
      await start();
      let first = 0;
      let t0 = 0n;
      for (;;) {
        const n = await count(table);
        if (n > 0 && !t0) [first, t0] = [n, process.hrtime.bigint()];
        if (n >= total) return (n - first) / (Number(process.hrtime.bigint() - t0) / 1e9);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const counted = await drain('access.usage_receipts', async () => (access = await spawnService('access', env)));
    await access.stop();
    access = undefined;
    emit('receipts_per_s', counted, 'receipts/s');

    await pg.query('CREATE TABLE raw_receipts (grant_id uuid, counter bigint, receipt bytea, PRIMARY KEY (grant_id, counter))');
    const raw = await drain('raw_receipts', () => rawPipe(bus, pg));
    emit('receipts_ratio_raw', counted / raw, 'ratio');
    console.error(`receipts: service ${Math.round(counted)}/s, raw pipe ${Math.round(raw)}/s`);

    access = await spawnService('access', env);
    const ratio = await gatewayOverhead(env, access.url, modelId);
    emit('gateway_overhead_ratio', ratio, 'ratio');
  } finally {
    await access?.stop();
    await storage?.stop();
    await pg.end();
    await bus.close();
    await Promise.allSettled([db.drop(), ns.cleanup(), s3.stop()]);
  }
})();

/**
 * A completion through the host gateway (HTTP, permission string checked, answer signed, receipt
 * spooled and published) against the same completion from the model in this process, sequentially,
 * on the engine's tiny model (the overhead is per request, so a small model shows it largest).
 */
async function gatewayOverhead(env: Record<string, string>, accessUrl: string, modelId: string): Promise<number> {
  const requests = Number(process.env.BENCH_GATEWAY_REQUESTS ?? 200);
  const maxTokens = 16;
  const base = (await ensureBaseModel('test-tiny')).dir;
  const dir = mkdtempSync(join(tmpdir(), 'bench-gateway-'));
  let gateway: ServiceProcess | undefined;
  const model = await (async () => {
    for (const f of ['config.json', 'tokenizer.json', 'model.safetensors']) copyFileSync(join(base, f), join(dir, f));
    await exportOnnx(dir);
    return OnnxCausalLm.load(dir, { threads: 1 });
  })();
  try {
    const hostKey = generatePrivateKey();
    const host = privateKeyToAccount(hostKey).address;
    gateway = await spawnService('host-gateway', {
      ...env,
      GATEWAY_HOST_KEY: hostKey,
      GATEWAY_SERVING_KEY: `s1:${randomBytes(32).toString('base64')}`,
      GATEWAY_MODEL_ID: modelId,
      GATEWAY_MODEL_DIR: dir,
      GATEWAY_THREADS: '1',
      ACCESS_URL: accessUrl,
      GATEWAY_SPOOL_DIR: join(dir, 'spool'),
    });
    const user = generateUserKey();
    const userKey = (await api(accessUrl, TEST_ADMIN_KEY, 'POST', '/api-keys', { principalId: 'bench-user', roles: ['user'] })).body.key;
    const g = (await api(accessUrl, userKey, 'POST', '/grants', { modelId, userPublicKey: userPublicKeyBytes(user).toString('base64url'), quota: { requests: 1_000_000 }, days: 1 })).body;
    const grant = { bytes: Buffer.from(g.grant, 'base64url'), issuerSignature: Buffer.from(g.issuerSignature, 'base64url') };
    const prompts = Array.from({ length: requests }, (_, i) => `a member of the genus ${i}`);
    const bodies = prompts.map((prompt) => JSON.stringify({ prompt, max_tokens: maxTokens }));
    const headers = bodies.map((body, i) => permissionString(grant, user, i + 1, { host, model: modelId, body }));
    const time = async (f: (i: number) => Promise<unknown>) => {
      await f(0); // warm-up
      const t = process.hrtime.bigint();
      for (let i = 1; i < requests; i += 1) await f(i);
      return Number(process.hrtime.bigint() - t) / 1e9;
    };
    const direct = await time((i) => model.complete(prompts[i], { maxTokens }));
    const viaGateway = await time(async (i) => {
      const res = await fetch(`${gateway!.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-clopen-permission': headers[i] }, body: bodies[i] });
      if (res.status !== 200) throw new Error(`gateway answered ${res.status}: ${await res.text()}`);
      await res.text();
    });
    console.error(`gateway: ${((viaGateway / (requests - 1)) * 1000).toFixed(2)} ms a request, the model alone ${((direct / (requests - 1)) * 1000).toFixed(2)} ms (${maxTokens} tokens, tiny model)`);
    return viaGateway / direct;
  } finally {
    await gateway?.stop();
    await model.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The floor under any ingest: pull a batch, decode the receipts, insert them in one statement, ack. */
async function rawPipe(bus: Bus, pg: Client): Promise<void> {
  const subject = 'access.usage.reported';
  const name = 'raw_pipe';
  await bus.jsm.consumers.add(bus.stream('ACCESS'), { durable_name: name, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, filter_subject: bus.subject(subject) });
  const consumer = await bus.js.consumers.get(bus.stream('ACCESS'), name);
  void (async () => {
    for (;;) {
      const msgs: JsMsg[] = [];
      for await (const m of await consumer.fetch({ max_messages: 32, expires: 1000 })) msgs.push(m);
      if (!msgs.length) return;
      const rows = msgs.flatMap((m) => decodeEnvelope(m.data, subject).payload.receipts.map((r) => ({ r, b: fromBinary(accessV1.ReceiptBodySchema, r.body) })));
      await pg.query('BEGIN');
      await pg.query('INSERT INTO raw_receipts SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bytea[]) ON CONFLICT DO NOTHING', [
        rows.map((x) => x.b.grantId),
        rows.map((x) => String(x.b.counter)),
        rows.map((x) => Buffer.from(x.r.body)),
      ]);
      await pg.query('COMMIT');
      for (const m of msgs) m.ack();
    }
  })();
}
