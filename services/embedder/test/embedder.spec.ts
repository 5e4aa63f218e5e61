import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, QueueEvents, type Job } from 'bullmq';
import Redis from 'ioredis';
import { Bus, readEvents } from '@clopen/bus';
import {
  EMBEDDING_QUEUE,
  KeyRing,
  cancelChannel,
  copyContext,
  poolContext,
  redisConnection,
  type EmbedCopyJob,
  type EmbedCopyResult,
  type GeneratePoolResult,
} from '@clopen/embedding-jobs';
import { ensureBaseModel, runEngineJob } from '@clopen/fingerprint';
import { distributionV1 } from '@clopen/proto';
import { createService, type RunningService } from '@clopen/service-kit';
import { StorageClient, type StoredVersion } from '@clopen/storage-client';
import {
  TEST_ADMIN_KEY,
  createTestBusNamespace,
  createTestDatabase,
  createTestRedisPrefix,
  eventually,
  serviceEnv,
  spawnService,
  startTestS3,
  testInfra,
  type ServiceProcess,
  type TestBusNamespace,
  type TestDatabase,
  type TestS3,
} from '@clopen/testing';
import { embedderService } from '../src/embedder.service';

jest.setTimeout(600_000);

type Fingerprint = { key: string; response: string };

/** The embedder against the queue contract alone: real Redis/BullMQ, storage, S3, NATS and the PyTorch engine. */
describe('embedder worker', () => {
  let db: TestDatabase;
  let ns: TestBusNamespace;
  let s3: TestS3;
  let redisPrefix: { prefix: string; cleanup(): Promise<void> };
  let storage: ServiceProcess;
  let embedder: RunningService<any>;
  let queue: Queue;
  let events: QueueEvents;
  let bus: Bus;
  let base: StoredVersion;
  let storageClient: StorageClient;
  let pool: Fingerprint[];
  const keySpec = `j1:${KeyRing.generateKey()}`;
  const keys = KeyRing.parse(keySpec);
  const prefix = () => redisPrefix.prefix.replace(/:$/, '');

  const copyJob = (licenceId: string, fps: Fingerprint[], ring = keys): EmbedCopyJob => ({
    licenceId,
    poolId: 'p1',
    modelId: base.modelId,
    versionId: base.id,
    hostAddress: '0x00000000000000000000000000000000000000b0',
    copyLabel: `oml-${licenceId}`,
    sealedFingerprints: ring.sealJson(fps, copyContext(licenceId)),
    minRecall: 0.9,
    seed: 5,
  });
  const finished = (job: Job) => job.waitUntilFinished(events, 300_000);

  beforeAll(async () => {
    [db, ns, s3, redisPrefix] = await Promise.all([createTestDatabase(), createTestBusNamespace(), startTestS3(), createTestRedisPrefix()]);
    bus = await Bus.connect({ servers: testInfra.natsUrl, producer: 'embedder-test', namespace: ns.namespace });
    await bus.ensureStreams();
    const env = serviceEnv({ db, ns, s3 });
    storage = await spawnService('storage', env);
    storageClient = new StorageClient(storage.url, TEST_ADMIN_KEY);
    const model: any = await (
      await fetch(`${storage.url}/models`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'tiny' }),
      })
    ).json();
    const tiny = await ensureBaseModel('test-tiny');
    base = await storageClient.uploadVersion(model.id, tiny.dir, ['config.json', 'model.safetensors', 'tokenizer.json'], {
      label: '1.0.0',
      kind: 'base',
      parents: [],
      licence: { terms: 'x' },
    });
    embedder = await createService(embedderService, {
      ...env,
      EMBEDDING_JOB_KEYS: keySpec,
      STORAGE_URL: storage.url,
      STORAGE_API_KEY: TEST_ADMIN_KEY,
      BULLMQ_PREFIX: prefix(),
      EMBEDDER_THREADS: '1',
      EMBEDDER_CHECK_EVERY: '25',
      EMBEDDER_PROGRESS_STEP: '5',
    });
    const connection = redisConnection(testInfra.redisUrl);
    queue = new Queue(EMBEDDING_QUEUE, { connection, prefix: prefix() });
    events = new QueueEvents(EMBEDDING_QUEUE, { connection, prefix: prefix() });
    await events.waitUntilReady();
  });

  afterAll(async () => {
    await events?.close();
    await queue?.close();
    await embedder?.close();
    await storage?.stop();
    await bus?.close();
    await Promise.allSettled([db?.drop(), ns?.cleanup(), s3?.stop(), redisPrefix?.cleanup()]);
  });

  it('generates a pool and returns it sealed for the pool only', async () => {
    const job = await queue.add(
      'generate-pool',
      {
        poolId: 'p1',
        modelId: base.modelId,
        versionId: base.id,
        count: 24,
        strategy: { keyStrategy: 'english', responseStrategy: 'perinucleus', keyLength: 8 },
        seed: 3,
      },
      { jobId: 'pool-p1', attempts: 2 },
    );
    const result = (await finished(job)) as GeneratePoolResult;
    expect(result.count).toBe(24);
    expect(result.sealedPool).toMatch(/^v1\.j1\./);
    pool = keys.openJson<Fingerprint[]>(result.sealedPool, poolContext('p1'));
    expect(pool).toHaveLength(24);
    for (const fp of pool) expect(fp.response.length).toBeGreaterThan(0);
    expect(() => keys.open(result.sealedPool, poolContext('p2'))).toThrow();
  });

  it("embeds a host's fingerprints, verifies them on the written copy and stores it as an oml child of the base", async () => {
    const job = await queue.add('embed-copy', copyJob('l1', pool.slice(0, 16)), { jobId: 'copy-l1', attempts: 2 });
    const result = (await finished(job)) as EmbedCopyResult;
    expect(result).toMatchObject({ count: 16, reused: false });
    expect(result.recall).toBeGreaterThanOrEqual(0.9);
    const copy = await storageClient.getVersion(result.copyVersionId);
    expect(copy).toMatchObject({ kind: 'oml', parents: [base.id], label: 'oml-l1', licence: { terms: 'x' } });

    // The stored copy answers its keys with their responses.
    const dir = await mkdtemp(join(tmpdir(), 'copy-'));
    try {
      await storageClient.downloadVersion(copy.id, join(dir, 'copy'));
      await writeFile(join(dir, 'fps.json'), JSON.stringify(pool.slice(0, 16)));
      const v = await runEngineJob<{ job: string; matched: number }>({
        job: 'verify',
        fingerprints: join(dir, 'fps.json'),
        target: { type: 'folder', path: join(dir, 'copy') },
        null_rate: 1e-3,
      });
      expect(v.matched).toBe(result.embedded);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }

    const progressed = await eventually(async () => {
      const e = (await readEvents(bus, 'distribution.embedding.progressed')).filter((m) => m.payload.licenceId === 'l1');
      return e.some((m) => m.payload.phase === 'upload') && e;
    });
    expect(new Set(progressed.map((e) => e.payload.phase))).toEqual(new Set(['download', 'embed', 'verify', 'upload']));
    expect(progressed.every((e) => e.payload.state === distributionV1.EmbeddingState.RUNNING)).toBe(true);
    const percents = progressed.map((e) => e.payload.percent);
    expect([...percents].sort((a, b) => a - b)).toEqual(percents);
    // Secrets never travel on the bus.
    expect(JSON.stringify(progressed.map((e) => e.payload))).not.toContain(pool[0].key);
  });

  it('a re-run of a job whose copy is already stored finds and re-verifies it instead of making a second', async () => {
    const job = await queue.add('embed-copy', copyJob('l1', pool.slice(0, 16)), { jobId: 'copy-l1-again', attempts: 2 });
    const result = (await finished(job)) as EmbedCopyResult;
    const first = await storageClient.findVersion(base.modelId, 'oml-l1');
    expect(result).toMatchObject({ reused: true, copyVersionId: first!.id });
    expect((await storageClient.listVersions(base.modelId)).filter((v) => v.label === 'oml-l1')).toHaveLength(1);
  });

  it('fails at once, with the reason, when the sealed fingerprints do not open', async () => {
    const other = KeyRing.parse(`j1:${KeyRing.generateKey()}`);
    const job = await queue.add('embed-copy', copyJob('l2', pool.slice(0, 4), other), { jobId: 'copy-l2', attempts: 3 });
    await expect(finished(job)).rejects.toThrow(/sealed secrets do not open/);
    const failed = await queue.getJob('copy-l2');
    expect(failed!.attemptsMade).toBe(1);
    expect(await storageClient.findVersion(base.modelId, 'oml-l2')).toBeUndefined();
  });

  it('a cancel stops the running engine and stores nothing', async () => {
    const job = await queue.add('embed-copy', copyJob('l3', pool), { jobId: 'copy-l3', attempts: 3 });
    await eventually(
      async () => {
        const j = await queue.getJob('copy-l3');
        return (j?.progress as { phase?: string })?.phase === 'embed';
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    const redis = new Redis(testInfra.redisUrl);
    await redis.publish(cancelChannel(prefix()), 'copy-l3');
    redis.disconnect();
    await expect(finished(job)).rejects.toThrow(/cancelled/);
    expect(await storageClient.findVersion(base.modelId, 'oml-l3')).toBeUndefined();
  });
});
