/**
 * npm run bench:embedding — copies produced per hour by one embedder worker on this machine,
 * through the whole path: distribution queues one job per licence, the embedder downloads the base
 * from storage (S3), embeds the host's assignment, verifies every fingerprint and uploads the copy.
 *
 * Model and assignment as deployed: the built-in base model (base-v2, trained offline once and
 * cached), a pool sized for N = 64 hosts and coalitions of K = 3, so each copy holds ~0.72 of a
 * 1248-entry pool. Prints JSON lines: copies_per_hour (the goal metric), seconds_per_copy,
 * fingerprints_per_copy, recall, pool_generation_seconds.
 *
 * BENCH_COPIES (default 2), BENCH_MODEL (base-v2 | base-v1 | test-tiny), BENCH_HOSTS (64), BENCH_COALITION (3).
 */
import { cpus } from 'node:os';
import { Bus } from '@clopen/bus';
import { KeyRing } from '@clopen/embedding-jobs';
import { ensureBaseModel, isBaseModelName } from '@clopen/fingerprint';
import { StorageClient } from '@clopen/storage-client';
import {
  api,
  createTestBusNamespace,
  createTestDatabase,
  createTestRedisPrefix,
  eventually,
  spawnService,
  startTestS3,
  testInfra,
  type ServiceProcess,
} from '@clopen/testing';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';

const COPIES = Number(process.env.BENCH_COPIES ?? 2);
const MODEL = process.env.BENCH_MODEL ?? 'base-v2';
const HOSTS = Number(process.env.BENCH_HOSTS ?? 64);
const COALITION = Number(process.env.BENCH_COALITION ?? 3);
const ADMIN_KEY = 'bench-admin-key-0123456789abcdef';

const emit = (metric: string, value: number, unit: string) =>
  console.log(JSON.stringify({ bench: 'embedding', metric, value: Math.round(value * 1000) / 1000, unit }));
const log = (msg: string) => process.stderr.write(`[bench:embedding] ${msg}\n`);

/** The test client's call, failing the bench on any error answer. */
async function call(base: string, method: string, path: string, body?: unknown): Promise<any> {
  const res = await api(base, ADMIN_KEY, method, path, body);
  if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

async function main() {
  if (!isBaseModelName(MODEL)) throw new Error(`BENCH_MODEL must be a built-in base model (base-v2, base-v1, test-tiny), got ${MODEL}`);
  log(`base model ${MODEL} (trained once, then cached in .local/models)`);
  const model = await ensureBaseModel(MODEL, { onProgress: (p) => p.percent % 10 < 0.5 && log(`training ${MODEL}: ${p.percent.toFixed(0)}%`) });
  const [db, ns, s3, redis] = await Promise.all([createTestDatabase(), createTestBusNamespace(), startTestS3(), createTestRedisPrefix()]);
  const bus = await Bus.connect({ servers: testInfra.natsUrl, producer: 'bench', namespace: ns.namespace });
  await bus.ensureStreams();
  const jobKeys = `j1:${KeyRing.generateKey()}`;
  const prefix = redis.prefix.replace(/:$/, '');
  const env = {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    HTTP_HOST: '127.0.0.1',
    ADMIN_API_KEY: ADMIN_KEY,
    DATABASE_URL: db.url,
    NATS_URL: testInfra.natsUrl,
    BUS_NAMESPACE: ns.namespace,
    REDIS_URL: testInfra.redisUrl,
    BULLMQ_PREFIX: prefix,
    EMBEDDING_JOB_KEYS: jobKeys,
    STORAGE_API_KEY: ADMIN_KEY,
    ...s3.env,
  };
  const procs: ServiceProcess[] = [];
  try {
    const storage = await spawnService('storage', env);
    procs.push(storage);
    const distribution = await spawnService('distribution', {
      ...env,
      STORAGE_URL: storage.url,
      DISTRIBUTION_POOL_KEYS: `k1:${KeyRing.generateKey()}`,
      EMBEDDING_RECONCILE_MS: '2000',
    });
    procs.push(distribution);
    const embedder = await spawnService('embedder', { ...env, STORAGE_URL: storage.url, EMBEDDER_THREADS: String(cpus().length), EMBEDDER_CONCURRENCY: '1' });
    procs.push(embedder);

    const m = await call(storage.url, 'POST', '/models', { name: `bench-${MODEL}` });
    const base = await new StorageClient(storage.url, ADMIN_KEY).uploadVersion(m.id, model.dir, ['config.json', 'model.safetensors', 'tokenizer.json'], {
      label: '1.0.0',
      kind: 'base',
      parents: [],
      licence: {},
    });

    let t = Date.now();
    await call(distribution.url, 'POST', `/versions/${base.id}/pool`, { hosts: HOSTS, coalition: COALITION });
    const pool = await eventually(
      async () => {
        const p = await call(distribution.url, 'GET', `/versions/${base.id}/pool`);
        if (p.status === 'failed') throw new Error(`pool failed: ${p.failure}`);
        return p.status === 'ready' && p;
      },
      { timeoutMs: 30 * 60_000, intervalMs: 500, what: 'the pool' },
    );
    const poolSeconds = (Date.now() - t) / 1000;
    log(`pool of ${pool.size} generated in ${poolSeconds.toFixed(1)} s; p = ${pool.inclusionProbability.toFixed(3)}`);

    const licences: string[] = [];
    for (let i = 0; i < COPIES; i += 1)
      licences.push(
        (await call(distribution.url, 'POST', '/licences', { versionId: base.id, hostAddress: privateKeyToAccount(generatePrivateKey()).address })).id,
      );
    t = Date.now();
    const results: any[] = [];
    for (const id of licences) {
      const done = await eventually(
        async () => {
          const s = await call(distribution.url, 'GET', `/licences/${id}/embedding`);
          if (s.state === 'failed' || s.state === 'cancelled') throw new Error(`copy ${id} ${s.state}: ${s.reason}`);
          return s.state === 'completed' && s;
        },
        { timeoutMs: 4 * 3600_000, intervalMs: 1000, what: `copy ${id}` },
      );
      results.push(done);
      log(
        `copy ${results.length}/${COPIES}: ${done.embedded}/${done.fingerprintCount} fingerprints verified, ${((Date.now() - t) / 1000).toFixed(0)} s since the first job was queued`,
      );
    }
    const seconds = (Date.now() - t) / 1000;
    emit('copies_per_hour', (COPIES * 3600) / seconds, 'copies/h');
    emit('seconds_per_copy', seconds / COPIES, 's');
    emit('fingerprints_per_copy', results.reduce((a, r) => a + r.fingerprintCount, 0) / COPIES, 'fingerprints');
    emit('recall', results.reduce((a, r) => a + r.embedded / r.fingerprintCount, 0) / COPIES, 'ratio');
    emit('pool_generation_seconds', poolSeconds, 's');
    log(`machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), one worker, model ${MODEL}`);
  } finally {
    for (const p of procs.reverse()) await p.stop().catch(() => undefined);
    await bus.close();
    await Promise.allSettled([db.drop(), ns.cleanup(), s3.stop(), redis.cleanup()]);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
