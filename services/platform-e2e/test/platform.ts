import { randomBytes } from 'node:crypto';
import { Bus } from '@clopen/bus';
import { KeyRing } from '@clopen/embedding-jobs';
import { ensureBaseModel } from '@clopen/fingerprint';
import { HOST_AUTH_HEADER, signHostRequest } from '@clopen/host-auth';
import { StorageClient, type StoredVersion } from '@clopen/storage-client';
import {
  TEST_ADMIN_KEY,
  api,
  createTestBusNamespace,
  createTestDatabase,
  createTestRedisPrefix,
  deployedChain,
  eventually,
  serviceEnv,
  spawnService,
  startTestS3,
  testInfra,
  TRAINING_JOB_TIMEOUT_MS,
  type DeployedChain,
  type ServiceProcess,
  type TestBusNamespace,
  type TestDatabase,
  type TestS3,
} from '@clopen/testing';
import type { LocalAccount } from 'viem/accounts';

/**
 * The platform on real dependencies for one suite: a database (a schema per service), a NATS
 * namespace, a Redis prefix, an S3 server, and storage, distribution, an embedder and access as
 * processes of their real main.ts.
 */
export class Platform {
  db!: TestDatabase;
  ns!: TestBusNamespace;
  s3!: TestS3;
  redis!: { prefix: string; cleanup(): Promise<void> };
  bus!: Bus;
  storage!: ServiceProcess;
  distribution!: ServiceProcess;
  embedder!: ServiceProcess;
  access!: ServiceProcess;
  /** With startChain(): a hardhat node with the contracts, the chain indexer and incentives. */
  chain?: DeployedChain;
  indexer?: ServiceProcess;
  incentives?: ServiceProcess;
  readonly issuerSeed = randomBytes(32);
  private readonly others: ServiceProcess[] = [];

  static async start(): Promise<Platform> {
    const p = new Platform();
    [p.db, p.ns, p.s3, p.redis] = await Promise.all([createTestDatabase(), createTestBusNamespace(), startTestS3(), createTestRedisPrefix()]);
    p.bus = await Bus.connect({ servers: testInfra.natsUrl, producer: 'e2e', namespace: p.ns.namespace });
    await p.bus.ensureStreams();
    p.storage = await spawnService('storage', p.env({ s3: true }));
    const jobKeys = `j1:${KeyRing.generateKey()}`;
    const queue = { EMBEDDING_JOB_KEYS: jobKeys, STORAGE_URL: p.storage.url, STORAGE_API_KEY: TEST_ADMIN_KEY, BULLMQ_PREFIX: p.redis.prefix.replace(/:$/, '') };
    [p.distribution, p.embedder, p.access] = await Promise.all([
      spawnService('distribution', {
        ...p.env(),
        ...queue,
        DISTRIBUTION_POOL_KEYS: `k1:${KeyRing.generateKey()}`,
        TRACE_FALSE_ACCUSATION: '0.01',
        EMBEDDING_MIN_RECALL: '0.95',
        EMBEDDING_RECONCILE_MS: '1000',
      }),
      spawnService('embedder', { ...p.env(), ...queue, EMBEDDER_THREADS: '2', EMBEDDER_CHECK_EVERY: '50' }),
      p.spawnAccess(),
    ]);
    return p;
  }

  /** Access, on `port` when given (a restart where gateways keep its old address). */
  spawnAccess(port?: number): Promise<ServiceProcess> {
    return spawnService('access', { ...this.env(), ACCESS_ISSUER_KEYS: `i1:${this.issuerSeed.toString('base64')}` }, { port });
  }

  /** The chain: contracts on a hardhat node mining a block a second, read by the indexer, settled by incentives. */
  async startChain(): Promise<DeployedChain> {
    this.chain = await deployedChain();
    await this.chain.node.rpc('evm_setIntervalMining', [1000]);
    [this.indexer, this.incentives] = await Promise.all([this.spawnIndexer(), this.spawnIncentives()]);
    return this.chain;
  }

  chainEnv(): Record<string, string> {
    return { ...this.env(), CHAIN_RPC_URL: this.chain!.node.url, CHAIN_CONTRACTS: this.chain!.contracts, CHAIN_CONFIRMATIONS: '0' };
  }

  spawnIndexer(): Promise<ServiceProcess> {
    return spawnService('chain-indexer', { ...this.chainEnv(), CHAIN_POLL_MS: '300' });
  }

  spawnIncentives(): Promise<ServiceProcess> {
    return spawnService('incentives', { ...this.chainEnv(), INCENTIVES_PROTOCOL_KEY: this.chain!.protocolKey, INCENTIVES_TICK_MS: '500' });
  }

  env({ s3 = false } = {}): Record<string, string> {
    return { ...serviceEnv({ db: this.db, ns: this.ns, ...(s3 ? { s3: this.s3 } : {}) }), REDIS_URL: testInfra.redisUrl };
  }

  /** A further process (a gateway) stopped with the platform. */
  async spawn(name: string, env: Record<string, string>): Promise<ServiceProcess> {
    const p = await spawnService(name, { ...this.env(), ...env });
    this.others.push(p);
    return p;
  }

  async stop(): Promise<void> {
    for (const p of [...this.others, this.incentives, this.indexer, this.access, this.embedder, this.distribution, this.storage]) await p?.stop();
    await this.chain?.node.stop();
    await this.bus?.close();
    await Promise.allSettled([this.db?.drop(), this.ns?.cleanup(), this.s3?.stop(), this.redis?.cleanup()]);
  }

  /** An API key of `principalId` in one service (each keeps its own). */
  async key(serviceUrl: string, principalId: string, roles: string[]): Promise<string> {
    const res = await api(serviceUrl, TEST_ADMIN_KEY, 'POST', '/api-keys', { principalId, roles });
    if (res.status !== 201) throw new Error(`api key: ${JSON.stringify(res.body)}`);
    return res.body.key;
  }

  /** Alice's model with the tiny base model as its version 1.0.0. */
  async publishBase(ownerKey: string, name: string): Promise<{ modelId: string; version: StoredVersion }> {
    const model = await api(this.storage.url, ownerKey, 'POST', '/models', { name });
    if (model.status !== 201) throw new Error(`model: ${JSON.stringify(model.body)}`);
    const dir = (await ensureBaseModel('test-tiny')).dir;
    const version = await new StorageClient(this.storage.url, ownerKey).uploadVersion(
      model.body.id,
      dir,
      ['config.json', 'model.safetensors', 'tokenizer.json'],
      { label: '1.0.0', kind: 'base', parents: [], licence: { terms: 'test' } },
    );
    return { modelId: model.body.id, version };
  }

  async waitForPool(versionId: string, key: string) {
    return eventually(async () => (await api(this.distribution.url, key, 'GET', `/versions/${versionId}/pool`)).body.status === 'ready', {
      timeoutMs: 600_000,
      intervalMs: 500,
      what: `the pool of ${versionId}`,
    });
  }

  async waitForCopy(licenceId: string) {
    let last: unknown;
    try {
      return await eventually(
        async () => {
          const r = (await api(this.distribution.url, TEST_ADMIN_KEY, 'GET', `/licences/${licenceId}/embedding`)).body;
          last = r;
          if (r.state === 'failed') throw new Error(`the copy of licence ${licenceId} failed: ${r.reason}`);
          return r.state === 'completed';
        },
        { timeoutMs: TRAINING_JOB_TIMEOUT_MS, intervalMs: 500, what: `the copy of licence ${licenceId}` },
      );
    } catch (e) {
      // What the copy was doing when the wait ended, and what the services said meanwhile.
      const tail = (p?: ServiceProcess) => p?.output().split('\n').slice(-30).join('\n') ?? '';
      throw new Error(
        `${(e as Error).message}; last status ${JSON.stringify(last)}\n--- distribution ---\n${tail(this.distribution)}\n--- embedder ---\n${tail(this.embedder)}`,
      );
    }
  }
}

/** A request signed by an EVM key (a host or a prover), as libs/host-auth defines it. */
export async function signedCall(account: LocalAccount, url: string, audience: string, method: 'GET' | 'POST', path: string, body?: unknown) {
  const raw = body === undefined ? '' : JSON.stringify(body);
  const auth = await signHostRequest(account, { audience, method, path, body: raw });
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', [HOST_AUTH_HEADER]: auth },
    body: body === undefined ? undefined : raw,
  });
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: kept as text.
  }
  return { status: res.status, body: parsed };
}
