import { Bus, readEvents, type EventSubject } from '@clopen/bus';
import { KeyRing } from '@clopen/embedding-jobs';
import { ensureBaseModel } from '@clopen/fingerprint';
import { signHostRequest } from '@clopen/host-auth';
import { createService, type RunningService } from '@clopen/service-kit';
import { StorageClient, type StoredVersion } from '@clopen/storage-client';
import {
  api as call,
  createTestBusNamespace,
  createTestDatabase,
  createTestRedisPrefix,
  eventually,
  serviceEnv,
  TEST_ADMIN_KEY,
  spawnService,
  startTestS3,
  testInfra,
  type ServiceProcess,
  type TestBusNamespace,
  type TestDatabase,
  type TestS3,
} from '@clopen/testing';
import type { LocalAccount } from 'viem';
import { distributionService } from '../src/distribution.service';

export const ADMIN_KEY = TEST_ADMIN_KEY;
export { api as call } from '@clopen/testing';

/**
 * One suite's platform slice on real dependencies: PostgreSQL (a database; each service its
 * schema), a NATS namespace, a Redis prefix for BullMQ, an S3 server; storage and embedders as
 * processes of their real main.ts, distribution in this process.
 */
export class DistributionHarness {
  db: TestDatabase;
  ns: TestBusNamespace;
  s3: TestS3;
  redis: { prefix: string; cleanup(): Promise<void> };
  bus: Bus;
  storage: ServiceProcess;
  distribution: RunningService<any>;
  embedders: ServiceProcess[] = [];
  poolKeys = `k1:${KeyRing.generateKey()}`;
  jobKeys = `j1:${KeyRing.generateKey()}`;
  baseDir: string;

  static async start(distributionEnv: Record<string, string> = {}): Promise<DistributionHarness> {
    const h = new DistributionHarness();
    [h.db, h.ns, h.s3, h.redis] = await Promise.all([createTestDatabase(), createTestBusNamespace(), startTestS3(), createTestRedisPrefix()]);
    h.bus = await Bus.connect({ servers: testInfra.natsUrl, producer: 'distribution-test', namespace: h.ns.namespace });
    await h.bus.ensureStreams();
    h.baseDir = (await ensureBaseModel('test-tiny')).dir;
    h.storage = await spawnService('storage', h.env());
    h.distribution = await createService(distributionService, { ...h.env(), ...h.distributionEnv(), ...distributionEnv });
    return h;
  }

  get prefix() {
    return this.redis.prefix.replace(/:$/, '');
  }

  env(): Record<string, string> {
    return serviceEnv(this);
  }

  distributionEnv(): Record<string, string> {
    return {
      DISTRIBUTION_POOL_KEYS: this.poolKeys,
      EMBEDDING_JOB_KEYS: this.jobKeys,
      STORAGE_URL: this.storage.url,
      STORAGE_API_KEY: ADMIN_KEY,
      BULLMQ_PREFIX: this.prefix,
      EMBEDDING_ATTEMPTS: '3',
      EMBEDDING_BACKOFF_MS: '500',
      EMBEDDING_RECONCILE_MS: '1000',
      // A small pool for a tiny model: two hosts, traced at a 1 % false-accusation bound.
      TRACE_FALSE_ACCUSATION: '0.01',
      EMBEDDING_MIN_RECALL: '0.95',
    };
  }

  async startEmbedder(extra: Record<string, string> = {}): Promise<ServiceProcess> {
    const p = await spawnService('embedder', {
      ...this.env(),
      EMBEDDING_JOB_KEYS: this.jobKeys,
      STORAGE_URL: this.storage.url,
      STORAGE_API_KEY: ADMIN_KEY,
      BULLMQ_PREFIX: this.prefix,
      EMBEDDER_THREADS: '1',
      EMBEDDER_BATCH_SIZE: '64',
      EMBEDDER_CHECK_EVERY: '50',
      EMBEDDER_LOCK_DURATION_MS: '4000',
      EMBEDDER_STALLED_INTERVAL_MS: '1000',
      EMBEDDER_PROGRESS_STEP: '10',
      ...extra,
    });
    this.embedders.push(p);
    return p;
  }

  get url() {
    return this.distribution.url;
  }

  storageAs(key: string) {
    return new StorageClient(this.storage.url, key);
  }

  /** Alice's model with the tiny base model as version 1.0.0, uploaded through storage's REST API. */
  async publishBase(ownerKey: string, name: string): Promise<StoredVersion> {
    const model = await call(this.storage.url, ownerKey, 'POST', '/models', { name });
    if (model.status !== 201) throw new Error(`model: ${JSON.stringify(model.body)}`);
    return this.storageAs(ownerKey).uploadVersion(model.body.id, this.baseDir, ['config.json', 'model.safetensors', 'tokenizer.json'], {
      label: '1.0.0',
      kind: 'base',
      parents: [],
      licence: { terms: 'test' },
    });
  }

  /** Issues an API key in a service (each service keeps its own keys). */
  async issueKey(serviceUrl: string, principalId: string, roles: string[]): Promise<string> {
    const res = await call(serviceUrl, ADMIN_KEY, 'POST', '/api-keys', { principalId, roles });
    if (res.status !== 201) throw new Error(`api key: ${JSON.stringify(res.body)}`);
    return res.body.key;
  }

  async waitForPool(versionId: string, key = ADMIN_KEY, timeoutMs = 60_000) {
    return eventually(
      async () => {
        const r = await call(this.url, key, 'GET', `/versions/${versionId}/pool`);
        return r.body.status !== 'generating' && r.body;
      },
      { timeoutMs, intervalMs: 250, what: `the pool of ${versionId}` },
    );
  }

  async waitForEmbedding(licenceId: string, states: string[] = ['completed', 'failed', 'cancelled'], timeoutMs = 180_000) {
    return eventually(
      async () => {
        const r = await call(this.url, ADMIN_KEY, 'GET', `/licences/${licenceId}/embedding`);
        return states.includes(r.body.state) && r.body;
      },
      { timeoutMs, intervalMs: 250, what: `the embedding of licence ${licenceId} to be ${states.join('/')}` },
    );
  }

  events<S extends EventSubject>(subject: S) {
    return readEvents(this.bus, subject);
  }

  async stop() {
    await Promise.allSettled(this.embedders.map((e) => e.stop()));
    await this.distribution?.close();
    await this.storage?.stop();
    await this.bus?.close();
    await Promise.allSettled([this.db?.drop(), this.ns?.cleanup(), this.s3?.stop(), this.redis?.cleanup()]);
  }
}

/** A GET signed by a host's key, as the host SDK sends it. */
export async function hostGet(base: string, account: LocalAccount, path: string): Promise<{ status: number; body: any; header: string }> {
  const header = await signHostRequest(account, { audience: 'distribution', method: 'GET', path });
  const res = await call(base, undefined, 'GET', path, undefined, { 'x-clopen-host-auth': header });
  return { ...res, header };
}
