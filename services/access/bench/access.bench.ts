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
 * unlicensed_counted (goal 0): receipts of a slashed host, of a host outside the grants' host set
 * and of a host licensed for another model, mixed into the 100k, that were counted.
 * quota_overrun (goal 0): 16 concurrent clients spread 10,000 requests of 50 grants of quota 100
 * over 4 gateways (each a host of its own); requests served or counted past a grant's quota.
 * quota_reserve_p99_ms (goal ≤ 5): the 99th percentile of the time a granted request waited for its
 * grant's quota, read from the gateways' own histograms (the upper bound of its bucket), with opening
 * blocks (the grants are bought while the gateways are up, as users buy before they ask);
 * quota_reserve_p99_ms_all the same over every reservation, refusals included; and
 * quota_reserve_p99_ms_cold over the same load run again without opening blocks, where each grant's
 * first request at each gateway waits for a lease (access on loopback, on a CPU the gateways saturate).
 * quota_overrun counts what was served past a grant's quota, counted past it, or refused at ingest as
 * over_quota (a gateway that served past its lease), over both runs.
 */
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { AckPolicy, DeliverPolicy, type JsMsg } from 'nats';
import { Client } from 'pg';
import { Bus, decodeEnvelope } from '@clopen/bus';
import { accessV1, fromBinary } from '@clopen/proto';
import {
  TEST_ADMIN_KEY,
  api,
  createTestBusNamespace,
  createTestDatabase,
  endLicence,
  eventually,
  licenseHost,
  serviceEnv,
  spawnService,
  startTestS3,
  testInfra,
  type ServiceProcess,
} from '@clopen/testing';
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
const emit = (metric: string, value: number, unit: string) =>
  console.log(JSON.stringify({ bench: 'access', metric, value: Math.round(value * 1000) / 1000, unit }));

const issuer = generateKeyPairSync('ed25519');
const now = Math.floor(Date.now() / 1000);
const grant = (id: string, user = generateUserKey()) => ({
  user,
  signed: issueGrant(issuer.privateKey, {
    id,
    modelId: MODEL,
    userPublicKey: userPublicKeyBytes(user),
    notBefore: now - 60,
    expiresAt: now + 3600,
    issuerKeyId: 'i1',
  }),
});
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
    const env = {
      ...serviceEnv({ db, ns }),
      ACCESS_ISSUER_KEYS: `i1:${randomBytes(32).toString('base64')}`,
      LOG_LEVEL: 'warn',
      ACCESS_REPORT_GRACE_MS: '1000',
    };
    access = await spawnService('access', env);
    const modelId = (await api(storage.url, TEST_ADMIN_KEY, 'POST', '/models', { name: 'bench-gpt' })).body.id;
    // BENCH_ACCESS_PARTS=quota: the quota stage alone, to iterate on it; every metric by default.
    const all = process.env.BENCH_ACCESS_PARTS !== 'quota';
    if (all) {
      const otherModelId = (await api(storage.url, TEST_ADMIN_KEY, 'POST', '/models', { name: 'bench-other' })).body.id;
      const load = await prepareReceiptLoad(access.url, bus, modelId, 50);
      // Receipts that must not count, mixed in: a host slashed before it served, a host the grants do
      // not name, and a host licensed for another model only.
      // The slashed host backdates its receipts to just before the slash (hosts date their own):
      // they reach JetStream more than ACCESS_REPORT_GRACE_MS (1 s here) after the end.
      const slashed = await prepareReceiptLoad(access.url, bus, modelId, 5);
      await new Promise((r) => setTimeout(r, 2_500)); // so that just before the slash is inside the grants' validity
      const slashedAt = new Date(Date.now() - 500);
      await endLicence(bus, slashed.licence, 'slashed', slashedAt);
      const outside = await prepareReceiptLoad(access.url, bus, modelId, 5, { grantHosts: ['0x000000000000000000000000000000000000dEaD'] });
      const elsewhere = await prepareReceiptLoad(access.url, bus, modelId, 5, { licensedFor: otherModelId });
      const bad = [slashed, outside, elsewhere];
      const badEach = Math.round(total * 0.01);
      const goodTotal = total - bad.length * badEach;
      await eventually(async () => (await pg.query('SELECT count(*) FROM access.host_licences WHERE ended_at IS NOT NULL')).rows[0].count === '1', {
        timeoutMs: 10_000,
        what: 'the slash at access',
      });
      await access.stop();
      await new Promise((r) => setTimeout(r, 1_500)); // past the grace after the slash
      const batches = [
        ...load.batches(goodTotal, perBatch),
        ...bad.flatMap((l) => l.batches(badEach, perBatch, l === slashed ? new Date(slashedAt.getTime() - 400) : undefined)),
      ];
      batches.sort(() => Math.random() - 0.5);
      for (const b of batches) await bus.publish('access.usage.reported', b);

      const count = async (table: string) => Number((await pg.query(`SELECT count(*) FROM ${table}`)).rows[0].count);
      const drain = async (table: string, start: () => Promise<unknown>, goal: number) => {
        await start();
        let first = 0;
        let t0 = 0n;
        for (;;) {
          const n = await count(table);
          if (n > 0 && !t0) [first, t0] = [n, process.hrtime.bigint()];
          if (n >= goal) return (n - first) / (Number(process.hrtime.bigint() - t0) / 1e9);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      const counted = await drain('access.usage_receipts', async () => (access = await spawnService('access', env)), goodTotal);
      await eventually(async () => Number((await pg.query('SELECT count(*) FROM access.usage_rejections')).rows[0].count) >= bad.length * badEach, {
        timeoutMs: 60_000,
        what: 'every bad receipt refused',
      });
      await access.stop();
      access = undefined;
      emit('receipts_per_s', counted, 'receipts/s');
      const byHost = async (host: string) =>
        Number((await pg.query('SELECT count(*) FROM access.usage_receipts WHERE host_address = $1', [host])).rows[0].count);
      emit(
        'unlicensed_counted',
        (await Promise.all(bad.map((l) => byHost(l.host.address)))).reduce((a, b) => a + b, 0),
        'receipts',
      );
      const reasons = (
        await pg.query('SELECT lower(host_address) AS host, reason, count(*)::int AS n FROM access.usage_rejections GROUP BY 1, 2 ORDER BY 1, 2')
      ).rows;
      console.error(`receipts: ${await byHost(load.host.address)} of ${goodTotal} good counted; refused ${JSON.stringify(reasons)}`);
      // Refused, and for the right reason: a refusal for another reason would be a bench that cannot tell.
      const want = [
        [slashed, 'unlicensed'],
        [outside, 'host_not_in_grant'],
        [elsewhere, 'unlicensed'],
      ] as const;
      for (const [l, reason] of want) {
        const n = reasons.find((r) => r.host === l.host.address.toLowerCase() && r.reason === reason)?.n ?? 0;
        if (n !== badEach) throw new Error(`expected ${badEach} receipts of ${l.host.address} refused as ${reason}, got ${n}`);
      }

      await pg.query('CREATE TABLE raw_receipts (grant_id uuid, counter bigint, receipt bytea, PRIMARY KEY (grant_id, counter))');
      const raw = await drain('raw_receipts', () => rawPipe(bus, pg), total);
      emit('receipts_ratio_raw', counted / raw, 'ratio');
      console.error(`receipts: service ${Math.round(counted)}/s, raw pipe ${Math.round(raw)}/s`);
    } else {
      await access.stop();
    }
    access = await spawnService('access', env);
    if (all) emit('gateway_overhead_ratio', await gatewayOverhead(env, access.url, modelId, bus), 'ratio');
    const quota = await quotaAcrossGateways(env, access.url, modelId, bus, pg);
    // The same load with no opening blocks (ACCESS_QUOTA_HANDOUT_HOSTS=0): each grant's first request
    // at each gateway waits for a lease, as it does for models of many hosts or a grant used at once.
    await access.stop();
    access = await spawnService('access', { ...env, ACCESS_QUOTA_HANDOUT_HOSTS: '0' });
    const cold = await quotaAcrossGateways(env, access.url, modelId, bus, pg);
    emit('quota_overrun', quota.overrun + cold.overrun, 'requests');
    emit('quota_underserved', quota.underserved + cold.underserved, 'requests');
    emit('quota_reserve_p99_ms', quota.p99Ms, 'ms');
    emit('quota_reserve_p99_ms_all', quota.p99AllMs, 'ms');
    emit('quota_reserve_p99_ms_cold', cold.p99Ms, 'ms');
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
async function gatewayOverhead(env: Record<string, string>, accessUrl: string, modelId: string, bus: Bus): Promise<number> {
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
    const spawned = await spawnGateway(env, accessUrl, modelId, dir, bus, 'spool');
    gateway = spawned.proc;
    const host = spawned.host;
    const user = generateUserKey();
    const userKey = (await api(accessUrl, TEST_ADMIN_KEY, 'POST', '/api-keys', { principalId: 'bench-user', roles: ['user'] })).body.key;
    const g = (
      await api(accessUrl, userKey, 'POST', '/grants', {
        modelId,
        userPublicKey: userPublicKeyBytes(user).toString('base64url'),
        quota: { requests: 1_000_000 },
        days: 1,
      })
    ).body;
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
      const res = await fetch(`${gateway!.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-clopen-permission': headers[i] },
        body: bodies[i],
      });
      if (res.status !== 200) throw new Error(`gateway answered ${res.status}: ${await res.text()}`);
      await res.text();
    });
    console.error(
      `gateway: ${((viaGateway / (requests - 1)) * 1000).toFixed(2)} ms a request, the model alone ${((direct / (requests - 1)) * 1000).toFixed(2)} ms (${maxTokens} tokens, tiny model)`,
    );
    return viaGateway / direct;
  } finally {
    await gateway?.stop();
    await model.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A host licensed for the model (distribution's event) and its gateway serving the ONNX copy in `dir`. */
async function spawnGateway(
  env: Record<string, string>,
  accessUrl: string,
  modelId: string,
  dir: string,
  bus: Bus,
  spool: string,
): Promise<{ proc: ServiceProcess; host: string }> {
  const hostKey = generatePrivateKey();
  const host = privateKeyToAccount(hostKey).address;
  await licenseHost(bus, host, modelId);
  const proc = await spawnService('host-gateway', {
    ...env,
    GATEWAY_HOST_KEY: hostKey,
    GATEWAY_SERVING_KEY: `s1:${randomBytes(32).toString('base64')}`,
    GATEWAY_MODEL_ID: modelId,
    GATEWAY_MODEL_DIR: dir,
    GATEWAY_THREADS: '1',
    ACCESS_URL: accessUrl,
    GATEWAY_SPOOL_DIR: join(dir, spool),
  });
  return { proc, host };
}

/**
 * Users spread requests over gateways to get more than they paid for: 50 grants of 100 requests,
 * 200 requests each (10,000 in all) from 16 concurrent clients, round robin over 4 gateways of 4
 * hosts. Counts what each gateway served (200) and what access counted per grant once the
 * receipts are in; reads the quota reservation times from the gateways' histograms.
 */
async function quotaAcrossGateways(
  env: Record<string, string>,
  accessUrl: string,
  modelId: string,
  bus: Bus,
  pg: Client,
): Promise<{ overrun: number; underserved: number; p99Ms: number; p99AllMs: number }> {
  const grants = Number(process.env.BENCH_QUOTA_GRANTS ?? 50);
  const quota = 100;
  const perGrant = 2 * quota;
  const base = (await ensureBaseModel('test-tiny')).dir;
  const dir = mkdtempSync(join(tmpdir(), 'bench-quota-'));
  const gateways: { url: string; host: string; proc: ServiceProcess }[] = [];
  try {
    for (const f of ['config.json', 'tokenizer.json', 'model.safetensors']) copyFileSync(join(base, f), join(dir, f));
    await exportOnnx(dir);
    for (let i = 0; i < 4; i += 1) {
      const { proc, host } = await spawnGateway(env, accessUrl, modelId, dir, bus, `spool-${i}`);
      gateways.push({ url: proc.url, host, proc });
    }
    const user = generateUserKey();
    const userKey = (await api(accessUrl, TEST_ADMIN_KEY, 'POST', '/api-keys', { principalId: 'bench-quota-user', roles: ['user'] })).body.key;
    const bought: { id: string; signed: { bytes: Buffer; issuerSignature: Buffer } }[] = [];
    for (let g = 0; g < grants; g += 1) {
      const res = (
        await api(accessUrl, userKey, 'POST', '/grants', {
          modelId,
          userPublicKey: userPublicKeyBytes(user).toString('base64url'),
          quota: { requests: quota },
          days: 1,
        })
      ).body;
      bought.push({ id: res.id, signed: { bytes: Buffer.from(res.grant, 'base64url'), issuerSignature: Buffer.from(res.issuerSignature, 'base64url') } });
    }
    // Request r of grant g goes to gateway r mod 4; all of them signed beforehand.
    const work = bought.flatMap((g, gi) =>
      Array.from({ length: perGrant }, (_, r) => {
        const gw = gateways[(r + gi) % gateways.length];
        const body = JSON.stringify({ prompt: `request ${r}`, max_tokens: 1 });
        return { grant: gi, url: gw.url, body, header: permissionString(g.signed, user, r + 1, { host: gw.host, model: modelId, body }) };
      }),
    );
    work.sort(() => Math.random() - 0.5);
    const served = new Array<number>(grants).fill(0);
    const statuses = new Map<number, number>();
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < work.length) {
          const w = work[next++];
          const res = await fetch(`${w.url}/v1/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-clopen-permission': w.header },
            body: w.body,
          });
          await res.text();
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          if (res.status === 200) served[w.grant] += 1;
        }
      }),
    );
    const servedTotal = served.reduce((a, b) => a + b, 0);
    if (statuses.get(503)) throw new Error(`${statuses.get(503)} requests got 503 (quota_unavailable): access could not be reached`);
    const ids = bought.map((b) => b.id);
    const counted = async () =>
      new Map<string, number>(
        (await pg.query('SELECT grant_id, count(*)::int AS n FROM access.usage_receipts WHERE grant_id = ANY($1::uuid[]) GROUP BY grant_id', [ids])).rows.map(
          (r) => [r.grant_id, r.n],
        ),
      );
    // Receipts refused over quota: a gateway that served past the quota shows here, not in what was counted.
    const overQuota = async () =>
      Number((await pg.query("SELECT count(*) FROM access.usage_rejections WHERE grant_id = ANY($1::text[]) AND reason = 'over_quota'", [ids])).rows[0].count);
    await eventually(async () => [...(await counted()).values()].reduce((a, b) => a + b, 0) + (await overQuota()) >= servedTotal, {
      timeoutMs: 120_000,
      what: 'the served requests counted or refused',
    });
    await new Promise((r) => setTimeout(r, 2_000)); // anything more that would arrive
    const c = await counted();
    const overrun =
      served.reduce((n, s) => n + Math.max(0, s - quota), 0) + bought.reduce((n, b) => n + Math.max(0, (c.get(b.id) ?? 0) - quota), 0) + (await overQuota());
    // A gateway that refuses everything would overrun nothing: what was paid for must be served.
    const underserved = served.reduce((n, s) => n + Math.max(0, quota - s), 0);
    if (underserved > 0.05 * grants * quota) throw new Error(`only ${servedTotal} of the ${grants * quota} paid requests were served`);
    // p99 from the gateways' histograms: the upper bound of the bucket that holds it.
    const buckets = new Map<number, number>();
    const everyBucket = new Map<number, number>();
    for (const g of gateways) {
      const text = await (await fetch(`${g.url}/metrics`)).text();
      for (const m of text.matchAll(/^gateway_quota_reserve_seconds_bucket\{([^}]*)\} (\d+)/gm)) {
        const bound = /le="([^"]+)"/.exec(m[1])![1];
        const le = bound === '+Inf' ? Infinity : Number(bound);
        everyBucket.set(le, (everyBucket.get(le) ?? 0) + Number(m[2]));
        // The goal's population: granted reservations (fast refusals of spent grants would flatter it);
        // every reservation, refusals included, is reported beside it.
        if (m[1].includes('outcome="granted"')) buckets.set(le, (buckets.get(le) ?? 0) + Number(m[2]));
      }
    }
    const bounds = [...buckets.keys()].sort((a, b) => a - b);
    const all = buckets.get(Infinity) ?? 0;
    if (all < servedTotal) throw new Error(`the gateways' histograms hold ${all} granted reservations for ${servedTotal} requests served`);
    const quantile = (q: number) => bounds.find((le) => buckets.get(le)! >= q * all) ?? Infinity;
    const p99 = quantile(0.99);
    const everyOne = everyBucket.get(Infinity) ?? 0;
    const p99All = [...everyBucket.keys()].sort((a, b) => a - b).find((le) => everyBucket.get(le)! >= 0.99 * everyOne) ?? Infinity;
    // Where a wait goes: access's own time on a lease (its HTTP histogram), beside the gateways' waits.
    const leaseTimes = [
      ...(await (await fetch(`${accessUrl}/metrics`)).text()).matchAll(
        /^http_request_duration_seconds_bucket\{(?=[^}]*route="\/hosts\/quota-leases")(?=[^}]*status="200")[^}]*le="([^"]+)"[^}]*\} (\d+)/gm,
      ),
    ].map((m) => [m[1], Number(m[2])]);
    console.error(`quota: access's time on POST /hosts/quota-leases (le, count): ${JSON.stringify(leaseTimes)}`);
    console.error(
      `quota: ${servedTotal} of ${work.length} served (${grants} grants × ${quota}), statuses ${JSON.stringify(Object.fromEntries(statuses))}, ${[...c.values()].reduce((a, b) => a + b, 0)} counted; ${all} granted reservations: p50 ≤ ${quantile(0.5) * 1000} ms, p90 ≤ ${quantile(0.9) * 1000} ms, p95 ≤ ${quantile(0.95) * 1000} ms, p99 ≤ ${p99 * 1000} ms; histogram ${JSON.stringify(bounds.map((le) => [le, buckets.get(le)]))}`,
    );
    return { overrun, underserved, p99Ms: p99 * 1000, p99AllMs: p99All * 1000 };
  } finally {
    await Promise.all(gateways.map((g) => g.proc.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The floor under any ingest: pull a batch, decode the receipts, insert them in one statement, ack. */
async function rawPipe(bus: Bus, pg: Client): Promise<void> {
  const subject = 'access.usage.reported';
  const name = 'raw_pipe';
  await bus.jsm.consumers.add(bus.stream('ACCESS'), {
    durable_name: name,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: bus.subject(subject),
  });
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
