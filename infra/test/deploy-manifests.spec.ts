// Static checks that keep docker/ and k8s/ in step with the services' settings: a renamed or new
// required setting, a typo in an env var, a probe on the wrong path or port, or a secret written
// into a manifest fails here instead of in a cluster.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { ENGINE_PYTHON_DIR } from '@clopen/fingerprint';
/* eslint-disable @nx/enforce-module-boundaries -- the one place outside a service that reads its settings: to check the manifests against them */
import { accessSettings } from '@clopen/service-access/src/access.settings';
import { chainIndexerSettings } from '@clopen/service-chain-indexer/src/chain-indexer.settings';
import { distributionSettings } from '@clopen/service-distribution/src/distribution.settings';
import { embedderSettings } from '@clopen/service-embedder/src/embedder.settings';
import { gatewaySettings } from '@clopen/service-host-gateway/src/gateway.settings';
import { incentivesSettings } from '@clopen/service-incentives/src/incentives.settings';
import { storageSettings } from '@clopen/service-storage/src/storage.settings';
/* eslint-enable @nx/enforce-module-boundaries */

const root = resolve(__dirname, '../..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const readYaml = (path: string) => parse(read(path), { merge: true }); // compose uses YAML merge keys (<<)

type Shape = Record<string, z.ZodTypeAny>;

interface DeployedService {
  /** Folder name in services/, and the name of its compose service, Deployment (or StatefulSet) and image. */
  name: string;
  settings: Shape;
  /**
   * api: takes traffic through a Service and scales on CPU (unless singleIdentity or singleton);
   * worker: drains a queue, no Service, HPA optional.
   */
  role: 'api' | 'worker';
  /** Debian packages the image installs beyond node (the `case` in docker/Dockerfile's runtime stage). */
  debianPackages?: string[];
  /** A setting naming the scratch directory: a volume of at least minBytes (given the effective settings). */
  workDir?: { setting: string; minBytes: (setting: (name: string) => unknown) => number };
  /**
   * Compute threads per job: set explicitly (a default counts the host's CPUs) so threads x jobs =
   * the CPU limit. Without a concurrency setting the threads form one pool (jobs = 1).
   */
  cpuThreads?: { threads: string; concurrency?: string };
  /**
   * The host gateway is different from every other service here: it holds state per identity. Its
   * replay protection (permission-string counters of its host key, GATEWAY_HOST_KEY) lives in
   * memory, so two pods of one identity would each accept the other's replays; and its receipt
   * spool must survive restarts, since receipts not yet acknowledged by JetStream are billing data.
   * So: a StatefulSet of exactly one replica, no HPA, and every directory named in stateDirs on a
   * PersistentVolumeClaim (volumeClaimTemplates), never an emptyDir. More capacity means another
   * identity (its own StatefulSet, keys and licence), never a second replica.
   */
  singleIdentity?: { stateDirs: string[] };
  /**
   * Compose: the service is opt-in under `profile`, because it serves what exists only once the
   * platform runs (the host gateway: a model and this host's licence). Compose interpolates every
   * service before it applies profiles, so a `${VAR:?}` for these settings would stop the whole
   * stack: they are `${VAR:-}`, listed in .env.example, and the checks fill them in with `fillIn`.
   *
   * Secrets stay required (`${VAR:?}`) even for an opt-in service, except those in `optionalSecrets`
   * (a subset of fillIn): the chain indexer's CHAIN_RPC_URL. It differs from a key: the operator
   * cannot generate it when setting up the laptop, it names a node that exists only once they run or
   * rent one (like the gateway's ids, which exist only once the platform runs), and it is a credential
   * only because a provider may put its API key in the URL. Required, it would stop `docker compose
   * up` for everyone who runs no chain. Empty, the indexer exits 78 naming it; in k8s it still comes
   * from a Secret, and in compose it is never a literal.
   */
  composeOptIn?: { profile: string; fillIn: Record<string, string>; optionalSecrets?: string[] };
  /**
   * A singleton sender (incentives): the one process that signs with a key whose transactions are
   * irreversible. A Deployment of at most one replica with strategy Recreate (the old pod is gone
   * before the new one starts, so two versions never send side by side) and no HPA, in the base and
   * in every overlay. The service's own lock (a PostgreSQL advisory lock per settlement round) makes
   * one sender per database whatever runs; a second replica would only idle.
   *
   * `contracts`: the setting naming the contracts it sends to. Placeholders (zero addresses) are not
   * harmless here, since a call to an address without code succeeds: the Deployment runs (replicas 1)
   * only where that setting names no zero address.
   */
  singleton?: { contracts: string };
  /**
   * Secrets of its own (not clopen-secrets), `name: keys it reads from it`: no other workload
   * references them, so that access to them can be granted apart from the platform's.
   */
  ownSecrets?: Record<string, string[]>;
  /**
   * A queue's worker scaled by an HPA on the queue's length (an External metric: `metric`, a gauge a
   * service exports), one replica per `jobsPerReplica` jobs (a setting), never on CPU: a worker is at
   * 100 % while it runs a job and at 0 when idle.
   */
  queueScaling?: { metric: string; jobsPerReplica: string };
  /** Downloads artefacts by presigned URL (from S3's public endpoint), which no setting of its own names. */
  downloadsPresigned?: boolean;
}

/** Every deployed service. A new service adds one entry. */
const services: DeployedService[] = [
  { name: 'storage', settings: storageSettings, role: 'api' },
  { name: 'distribution', settings: distributionSettings, role: 'api' },
  // its receipt signatures are verified on ACCESS_VERIFY_THREADS worker threads (default: the node's CPUs)
  { name: 'access', settings: accessSettings, role: 'api', cpuThreads: { threads: 'ACCESS_VERIFY_THREADS' } },
  {
    name: 'embedder',
    settings: embedderSettings,
    role: 'worker',
    debianPackages: ['python3-torch', 'libopenblas0-pthread', 'wordnet-base'],
    // a job holds the downloaded base and the copy it writes
    workDir: { setting: 'EMBEDDER_WORK_DIR', minBytes: (setting) => 2 * (setting('EMBEDDER_MAX_MODEL_BYTES') as number) },
    cpuThreads: { threads: 'EMBEDDER_THREADS', concurrency: 'EMBEDDER_CONCURRENCY' },
    // distribution's gauge of the fingerprint-embedding queue, by state
    queueScaling: { metric: 'embedding_queue_jobs', jobsPerReplica: 'EMBEDDER_CONCURRENCY' },
    downloadsPresigned: true,
  },
  {
    name: 'host-gateway',
    settings: gatewaySettings,
    role: 'api',
    // onnxruntime-node runs one step at a time (on the event loop) with GATEWAY_THREADS intra-op threads
    cpuThreads: { threads: 'GATEWAY_THREADS' },
    singleIdentity: { stateDirs: ['GATEWAY_SPOOL_DIR', 'GATEWAY_MODEL_DIR'] },
    downloadsPresigned: true,
    ownSecrets: { 'clopen-host-gateway': ['GATEWAY_HOST_KEY', 'GATEWAY_SERVING_KEY'] },
    composeOptIn: {
      profile: 'host',
      fillIn: { GATEWAY_MODEL_ID: '0190a8c4-5b7e-7d2a-9c11-2f4e6a8b0c3d', GATEWAY_LICENCE_ID: '0190a8c4-5b7e-7d2a-9c11-2f4e6a8b0c3e' },
    },
  },
  {
    // HTTP serves /health, /ready and /metrics only; one replica works at a time (an advisory lock per step)
    name: 'chain-indexer',
    settings: chainIndexerSettings,
    role: 'worker',
    // Compose: opt-in under profile `chain`, since its node and contract addresses exist only once a chain
    // with the contracts runs (a hardhat node on the laptop, reached through host.docker.internal).
    composeOptIn: {
      profile: 'chain',
      fillIn: {
        CHAIN_RPC_URL: 'http://chain:8545',
        CHAIN_CONTRACTS:
          'ModelRegistry:0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512,HostCollateral:0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0,UsageLedger:0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9,RewardsVault:0xDc64a140Aa3E981100a9becA4E685f962f0cF6C9',
      },
      optionalSecrets: ['CHAIN_RPC_URL'],
    },
  },
  {
    // REST for balances, claims and governance (a Service); the only holder of the protocol key
    name: 'incentives',
    settings: incentivesSettings,
    role: 'api',
    singleton: { contracts: 'CHAIN_CONTRACTS' },
    ownSecrets: { 'clopen-incentives': ['INCENTIVES_PROTOCOL_KEY'] },
    // Compose: beside the chain indexer under profile `chain` (the same chain and contracts).
    composeOptIn: {
      profile: 'chain',
      fillIn: {
        CHAIN_RPC_URL: 'http://chain:8545',
        CHAIN_CONTRACTS:
          'ModelRegistry:0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512,HostCollateral:0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0,UsageLedger:0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9,RewardsVault:0xDc64a140Aa3E981100a9becA4E685f962f0cF6C9',
      },
      optionalSecrets: ['CHAIN_RPC_URL'],
    },
  },
];

/** Settings whose values are credentials: they come from a Secret / .env, never a manifest. */
const SECRET_SETTINGS = [
  'ADMIN_API_KEY',
  'DATABASE_URL',
  'S3_ACCESS_KEY',
  'S3_SECRET_KEY',
  'STORAGE_API_KEY',
  'DISTRIBUTION_POOL_KEYS',
  'EMBEDDING_JOB_KEYS',
  'ACCESS_ISSUER_KEYS',
  'GATEWAY_HOST_KEY',
  'GATEWAY_SERVING_KEY',
  'GATEWAY_UPSTREAM_API_KEY',
  // not credential-like by name, but a provider's RPC URL carries its API key
  'CHAIN_RPC_URL',
  'INCENTIVES_PROTOCOL_KEY',
  // a NATS identity (infra/nats); optional in the manifests, for a NATS without accounts
  'NATS_NKEY_SEED',
];
/** Names that end like a credential but are not one. */
const NOT_SECRET = [
  'ACCESS_PROVER_DECOYS_PER_KEY', // a count of decoy queries per fingerprint key
];
/** Names that look like credentials must be in SECRET_SETTINGS (REDIS_URL may carry a password too). */
const looksSecret = (name: string) => (/(_KEYS?|SECRET|PASSWORD|TOKEN)$/.test(name) || name === 'DATABASE_URL') && !NOT_SECRET.includes(name);
/** Read by node itself, not by the service's settings. */
const RUNTIME_VARIABLES = ['NODE_OPTIONS'];
/** Stands in for a secret's value when a whole environment is validated. */
function secretStandIn(name: string): string {
  if (name === 'DATABASE_URL') return 'postgres://clopen:secret@postgres:5432/clopen';
  if (name.endsWith('_KEYS')) return `k1:${Buffer.alloc(32, 7).toString('base64')}`; // an AES-256 key ring, or ed25519 seeds
  if (name === 'GATEWAY_HOST_KEY' || name === 'INCENTIVES_PROTOCOL_KEY') return `0x${'07'.repeat(32)}`; // an EVM private key
  if (name === 'GATEWAY_SERVING_KEY') return `s1:${Buffer.alloc(32, 7).toString('base64')}`; // one ed25519 seed
  if (name === 'CHAIN_RPC_URL') return `https://rpc.example.invalid/v3/${'s'.repeat(32)}`; // a provider's URL with its key
  if (name === 'NATS_NKEY_SEED') return `SU${'A'.repeat(56)}`; // a user nkey seed
  return 's'.repeat(32);
}

const isRequired = (schema: z.ZodTypeAny) => !schema.safeParse(undefined).success;
const requiredSettings = (shape: Shape) => Object.keys(shape).filter((k) => isRequired(shape[k]));
/** The value the service uses: the one given, else the schema's default. */
function effective(shape: Shape, env: Record<string, string | undefined>, name: string): unknown {
  const parsed = shape[name].safeParse(env[name]);
  if (!parsed.success) throw new Error(`${name}=${env[name]} is not valid: ${parsed.error.issues[0].message}`);
  return parsed.data;
}
function expectValidEnvironment(shape: Shape, env: Record<string, string>, where: string) {
  const parsed = z.object(shape).safeParse(env);
  const problems = parsed.success ? [] : parsed.error.issues.map((i) => `${where}: ${i.path.join('.')}: ${i.message}`);
  expect(problems).toEqual([]);
}
/** All settings of all services: a shared ConfigMap key must be read by at least one of them. */
const allSettingNames = new Set(services.flatMap((s) => Object.keys(s.settings)));

/** Kubernetes quantities: memory in bytes ("384Mi", "8Gi"), CPU in cores ("500m", "4"). */
const BINARY: Record<string, number> = { '': 1, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
function bytesOf(quantity: string | undefined): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(quantity ?? '');
  if (!m) throw new Error(`not a memory quantity: ${quantity}`);
  return Number(m[1]) * BINARY[m[2] ?? ''];
}
function coresOf(quantity: string | number | undefined): number {
  const m = /^(\d+(?:\.\d+)?)(m)?$/.exec(String(quantity ?? ''));
  if (!m) throw new Error(`not a CPU quantity: ${quantity}`);
  return m[2] ? Number(m[1]) / 1000 : Number(m[1]);
}

/** The URLs in an environment, with the port a client uses when the URL names none. */
const DEFAULT_PORTS: Record<string, number> = {
  'http:': 80,
  'https:': 443,
  'redis:': 6379,
  'rediss:': 6379,
  'nats:': 4222,
  'postgres:': 5432,
  'postgresql:': 5432,
};
function urlsIn(env: Record<string, string>): { name: string; host: string; port: number }[] {
  return Object.entries(env).flatMap(([name, value]) =>
    value.split(',').flatMap((part) => {
      if (!/^[a-z]+:\/\//.test(part.trim())) return [];
      const url = new URL(part.trim());
      return [{ name, host: url.hostname, port: url.port ? Number(url.port) : DEFAULT_PORTS[url.protocol] }];
    }),
  );
}
const deployedNames = new Set(services.map((s) => s.name));

// ---------------------------------------------------------------------------------------------
// Kubernetes helpers

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: { name: string; key: string } };
}
interface Container {
  name: string;
  image: string;
  ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
  securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean; runAsNonRoot?: boolean; runAsUser?: number };
  volumeMounts?: { name: string; mountPath: string }[];
  resources?: { requests?: { cpu?: string; memory?: string }; limits?: { cpu?: string; memory?: string } };
}
interface Probe {
  httpGet?: { path: string; port: number | string };
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: any;
}

/** Every kustomization.yaml under k8s/. */
function kustomizations(dir = join(root, 'k8s')): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return kustomizations(path);
    return entry === 'kustomization.yaml' ? [path] : [];
  });
}

/** The objects a kustomization lists itself, following directory resources (no patches applied). */
function baseObjects(kustomizationDir: string): K8sObject[] {
  const k = parse(readFileSync(join(kustomizationDir, 'kustomization.yaml'), 'utf8'));
  return (k.resources ?? []).flatMap((entry: string) => {
    const path = resolve(kustomizationDir, entry);
    if (statSync(path).isDirectory()) return baseObjects(path);
    return parseAllDocuments(readFileSync(path, 'utf8')).map((d) => d.toJS() as K8sObject);
  });
}

const kubectl = (() => {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
})();

/** Each overlay rendered once per run (kubectl takes a second or two each time); read-only. */
const rendered = new Map<string, K8sObject[]>();
function render(overlay: string): K8sObject[] {
  if (!rendered.has(overlay)) {
    const out = execFileSync('kubectl', ['kustomize', join(root, 'k8s', overlay)], { encoding: 'utf8', timeout: 60_000 });
    rendered.set(
      overlay,
      parseAllDocuments(out).map((d) => d.toJS() as K8sObject),
    );
  }
  return rendered.get(overlay)!;
}

const find = (objects: K8sObject[], kind: string, name: string) => {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found;
};

/** The environment a container starts with: ConfigMap keys (envFrom), then env (env wins). */
function containerEnvironment(objects: K8sObject[], container: Container) {
  const fromConfigMaps: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    expect(source.secretRef).toBeUndefined(); // secrets one key at a time, so the names are visible here
    if (source.configMapRef) Object.assign(fromConfigMaps, find(objects, 'ConfigMap', source.configMapRef.name).data ?? {});
  }
  const env: Record<string, string> = { ...fromConfigMaps };
  const fromSecrets: string[] = [];
  for (const v of container.env ?? []) {
    if (v.valueFrom?.secretKeyRef) {
      fromSecrets.push(v.name);
      env[v.name] = secretStandIn(v.name);
    } else if (v.valueFrom?.configMapKeyRef) {
      env[v.name] = find(objects, 'ConfigMap', v.valueFrom.configMapKeyRef.name).data?.[v.valueFrom.configMapKeyRef.key] ?? '';
    } else {
      env[v.name] = v.value ?? '';
    }
  }
  return { env, fromConfigMaps, fromSecrets, literal: (container.env ?? []).filter((v) => !v.valueFrom).map((v) => v.name) };
}

const portOf = (container: Container, port: number | string | undefined) =>
  typeof port === 'number' ? port : container.ports?.find((p) => p.name === port)?.containerPort;

function preStopSeconds(container: Container): number {
  const hook = container.lifecycle?.preStop;
  if (hook?.sleep) return hook.sleep.seconds;
  const cmd = hook?.exec?.command ?? [];
  return cmd[0] === 'sleep' ? Number(cmd[1]) : 0;
}

/** A Deployment, except for a service with state per identity (see singleIdentity). */
const workloadKind = (service: DeployedService) => (service.singleIdentity ? 'StatefulSet' : 'Deployment');

/** The mount a path lies on: the longest mountPath that is the path or one of its parents. */
const mountOf = (container: Container, path: string) =>
  (container.volumeMounts ?? [])
    .filter((m) => path === m.mountPath || path.startsWith(`${m.mountPath.replace(/\/$/, '')}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];

/** Checks every Deployment (StatefulSet) of `service` must pass, in the base and in each rendered overlay. */
function checkDeployment(objects: K8sObject[], service: DeployedService, where: string) {
  const deployment = find(objects, workloadKind(service), service.name);
  const pod = deployment.spec.template.spec;
  const container: Container = pod.containers.find((c: Container) => c.name === service.name);
  expect(container).toBeDefined();
  const { env, fromConfigMaps, fromSecrets, literal } = containerEnvironment(objects, container);
  const names = Object.keys(env);

  // every required setting is provided, every name is known, and the whole environment parses
  expect(requiredSettings(service.settings).filter((k) => !names.includes(k))).toEqual([]);
  expect([...literal, ...fromSecrets].filter((k) => !(k in service.settings) && !RUNTIME_VARIABLES.includes(k))).toEqual([]);
  expect(Object.keys(fromConfigMaps).filter((k) => !allSettingNames.has(k))).toEqual([]);
  const settingsOnly = Object.fromEntries(Object.entries(env).filter(([k]) => k in service.settings));
  expectValidEnvironment(service.settings, settingsOnly, `${where} ${service.name}`);

  // secrets come from secretKeyRef only: never a literal value, never from a ConfigMap
  for (const name of SECRET_SETTINGS.filter((s) => s in service.settings)) {
    expect({ name, fromSecret: fromSecrets.includes(name) }).toEqual({ name, fromSecret: true });
    expect({ name, inConfigMap: name in fromConfigMaps }).toEqual({ name, inConfigMap: false });
  }

  // probes: liveness and startup on /health, readiness on /ready, all on the port the app listens on
  const httpPort = effective(service.settings, env, 'HTTP_PORT');
  expect(container.ports?.map((p) => p.containerPort)).toContain(httpPort);
  expect(container.livenessProbe?.httpGet?.path).toBe('/health');
  expect(container.startupProbe?.httpGet?.path).toBe('/health');
  expect(container.readinessProbe?.httpGet?.path).toBe('/ready');
  for (const probe of [container.livenessProbe, container.startupProbe, container.readinessProbe]) {
    expect(portOf(container, probe?.httpGet?.port)).toBe(httpPort);
  }
  const annotations = deployment.spec.template.metadata.annotations ?? {};
  expect(annotations['prometheus.io/path']).toBe('/metrics');
  expect(Number(annotations['prometheus.io/port'])).toBe(httpPort);

  // shutdown: the kubelet's grace period covers the preStop sleep plus the service's own drain
  const graceMs = effective(service.settings, env, 'SHUTDOWN_GRACE_MS') as number;
  expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(preStopSeconds(container) + graceMs / 1000);

  // non-root with a read-only root filesystem and a writable /tmp
  const security = { ...pod.securityContext, ...container.securityContext };
  expect(security.runAsNonRoot).toBe(true);
  expect(security.runAsUser).toBeGreaterThan(0); // the image's USER is a name; kubelet needs a number to verify it
  expect(security.readOnlyRootFilesystem).toBe(true);
  expect(container.volumeMounts?.map((m) => m.mountPath)).toContain('/tmp');

  // CPU and memory requested and capped; the heap cap, when set, leaves room under the memory limit
  const { requests, limits } = container.resources ?? {};
  expect(coresOf(requests?.cpu)).toBeLessThanOrEqual(coresOf(limits?.cpu));
  expect(bytesOf(requests?.memory)).toBeLessThanOrEqual(bytesOf(limits?.memory));
  const heap = /--max-old-space-size=(\d+)/.exec(env.NODE_OPTIONS ?? '');
  if (heap) expect(Number(heap[1]) * 2 ** 20).toBeLessThan(bytesOf(limits?.memory));

  // compute threads fill the CPU limit exactly: more would thrash under the quota, fewer idle
  if (service.cpuThreads) {
    const { threads, concurrency } = service.cpuThreads;
    expect({ [threads]: threads in env }).toEqual({ [threads]: true });
    const jobs = concurrency ? (effective(service.settings, env, concurrency) as number) : 1;
    const used = (effective(service.settings, env, threads) as number) * jobs;
    expect(used).toBe(Math.max(1, Math.floor(coresOf(limits?.cpu))));
  }

  // the scratch directory is a volume of its own, bounded, and large enough for one job per slot
  if (service.workDir) {
    const path = effective(service.settings, env, service.workDir.setting) as string;
    const mount = container.volumeMounts?.find((m) => m.mountPath === path);
    expect({ [service.workDir.setting]: path, mounted: !!mount }).toEqual({ [service.workDir.setting]: path, mounted: true });
    const volume = pod.volumes.find((v: { name: string }) => v.name === mount!.name);
    expect(volume.emptyDir).toBeDefined();
    const concurrency = service.cpuThreads?.concurrency;
    const jobs = concurrency ? (effective(service.settings, env, concurrency) as number) : 1;
    const needed = jobs * service.workDir.minBytes((name) => effective(service.settings, env, name));
    expect(bytesOf(volume.emptyDir.sizeLimit)).toBeGreaterThanOrEqual(needed);
  }

  // state per identity: one replica (an overlay must not raise it), each state directory on the pod's
  // own PersistentVolumeClaim, which outlives the pod (restarts, rescheduling, deletion of the set)
  if (service.singleIdentity) {
    expect(deployment.spec.replicas).toBe(1);
    for (const setting of service.singleIdentity.stateDirs) {
      const path = effective(service.settings, env, setting) as string;
      const mount = mountOf(container, path);
      const claim = (deployment.spec.volumeClaimTemplates ?? []).find((t: K8sObject) => t.metadata.name === mount?.name);
      expect({ [setting]: path, claim: claim?.metadata.name }).toEqual({ [setting]: path, claim: expect.any(String) });
      expect(claim.spec.accessModes).toEqual(['ReadWriteOnce']);
      expect(bytesOf(claim.spec.resources?.requests?.storage)).toBeGreaterThan(0);
      // a pod volume of the same name would stand in for the claim
      expect((pod.volumes ?? []).map((v: { name: string }) => v.name)).not.toContain(mount!.name);
    }
    expect(deployment.spec.persistentVolumeClaimRetentionPolicy ?? { whenDeleted: 'Retain', whenScaled: 'Retain' }).toEqual({
      whenDeleted: 'Retain',
      whenScaled: 'Retain',
    });
    expect(objects.filter((o) => o.kind === 'HorizontalPodAutoscaler' && o.spec.scaleTargetRef?.name === service.name).map((o) => o.metadata.name)).toEqual([]);
  }

  // a singleton sender: at most one pod, replaced (never rolled), never autoscaled, and running only
  // against real contracts
  if (service.singleton) {
    expect(deployment.spec.replicas).toBeLessThanOrEqual(1);
    expect(deployment.spec.strategy).toEqual({ type: 'Recreate' });
    expect(objects.filter((o) => o.kind === 'HorizontalPodAutoscaler' && o.spec.scaleTargetRef?.name === service.name).map((o) => o.metadata.name)).toEqual([]);
    const zeroAddress = /0x0{40}\b/i.test(env[service.singleton.contracts] ?? '');
    expect({ replicas: deployment.spec.replicas, [service.singleton.contracts]: zeroAddress ? 'placeholders' : 'real' }).not.toEqual({
      replicas: 1,
      [service.singleton.contracts]: 'placeholders',
    });
  }

  // another deployed service is reached through its Service and port (e.g. STORAGE_URL → storage:80)
  for (const url of urlsIn(env).filter((u) => deployedNames.has(u.host))) {
    const ports = find(objects, 'Service', url.host).spec.ports.map((p: { port: number }) => p.port);
    expect({ ...url, ports }).toEqual({ ...url, ports: expect.arrayContaining([url.port]) });
  }

  // the Service reaches the named container port; a worker takes no traffic and needs none
  if (service.role === 'api') {
    const svc = find(objects, 'Service', service.name);
    for (const p of svc.spec.ports) expect(portOf(container, p.targetPort)).toBe(httpPort);
  }
}

// ---------------------------------------------------------------------------------------------
// Compose helpers

const compose = readYaml('docker/compose.yaml');
const envExample = Object.fromEntries(
  read('docker/.env.example')
    .split('\n')
    .filter((line) => /^[A-Z_][A-Z0-9_]*=/.test(line))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
);

const asMap = (environment: Record<string, unknown> | string[] | undefined): Record<string, string> =>
  Array.isArray(environment)
    ? Object.fromEntries(environment.map((e) => [e.split('=')[0], e.slice(e.indexOf('=') + 1)]))
    : Object.fromEntries(Object.entries(environment ?? {}).map(([k, v]) => [k, String(v)]));

/** Compose's interpolation with the values an operator would supply from .env.example (or `filledIn`). */
const interpolate = (value: string, filledIn: Record<string, string> = {}) =>
  value.replace(
    /\$\{([A-Z_][A-Z0-9_]*)(?::?([-?])([^}]*))?\}/g,
    (_, name: string, op: string | undefined, arg: string) => filledIn[name] ?? (envExample[name] ? envExample[name] : op === '-' ? arg : secretStandIn(name)),
  );

const seconds = (duration: string) => {
  const m = /^(?:(\d+)m)?(?:(\d+)s)?$/.exec(duration);
  if (!m) throw new Error(`unsupported duration ${duration}`);
  return Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0);
};

// ---------------------------------------------------------------------------------------------

/** Folders in services/ that are not deployed: end-to-end suites over the whole platform. */
const NOT_DEPLOYED = ['platform-e2e'];

describe('the list of deployed services', () => {
  it('names every service in services/ (a folder with src/main.ts)', () => {
    const onDisk = readdirSync(join(root, 'services'))
      .filter((name) => !NOT_DEPLOYED.includes(name))
      .filter((name) => existsSync(join(root, 'services', name, 'src', 'main.ts')));
    expect(onDisk.length).toBeGreaterThan(0);
    expect(onDisk.filter((name) => !deployedNames.has(name))).toEqual([]);
  });

  it('names only services that exist', () => {
    expect([...deployedNames].filter((name) => !existsSync(join(root, 'services', name, 'src', 'main.ts')))).toEqual([]);
  });
});

describe('the list of secret settings', () => {
  it.each(services)('covers every credential-like setting of $name', ({ settings }) => {
    expect(
      Object.keys(settings)
        .filter(looksSecret)
        .filter((k) => !SECRET_SETTINGS.includes(k)),
    ).toEqual([]);
  });
});

describe.each(services)('docker/compose.yaml: $name', (service) => {
  const definition = compose.services?.[service.name];
  const env = asMap(definition?.environment);

  it('builds the service from docker/Dockerfile', () => {
    expect(definition.build.dockerfile).toBe('docker/Dockerfile');
    expect(resolve(join(root, 'docker'), definition.build.context)).toBe(root);
    expect(definition.build.args.SERVICE).toBe(service.name);
  });

  it('provides every required setting and only known ones', () => {
    expect(requiredSettings(service.settings).filter((k) => !(k in env))).toEqual([]);
    expect(Object.keys(env).filter((k) => !(k in service.settings) && !RUNTIME_VARIABLES.includes(k))).toEqual([]);
    const fillIn = service.composeOptIn?.fillIn ?? {};
    expectValidEnvironment(service.settings, Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolate(v, fillIn)])), 'compose');
  });

  it('starts with the platform, or opt-in under its profile with what the running platform gives it documented', () => {
    if (!service.composeOptIn) {
      expect(definition.profiles).toBeUndefined();
      return;
    }
    expect(definition.profiles).toEqual([service.composeOptIn.profile]);
    const optionalSecrets = service.composeOptIn.optionalSecrets ?? [];
    expect(optionalSecrets.filter((name) => !(name in service.composeOptIn!.fillIn) || !SECRET_SETTINGS.includes(name))).toEqual([]);
    for (const name of Object.keys(service.composeOptIn.fillIn)) {
      expect({ name, value: env[name], documented: name in envExample }).toEqual({ name, value: `\${${name}:-}`, documented: true });
      // secrets stay required (${VAR:?…}) even for an opt-in service, except optionalSecrets (see composeOptIn)
      if (!optionalSecrets.includes(name)) expect(SECRET_SETTINGS).not.toContain(name);
    }
  });

  it('takes secrets from the operator (required ${VAR:?...}), never literally', () => {
    for (const name of SECRET_SETTINGS.filter((s) => s in env)) {
      // an opt-in service's optional secret (see composeOptIn) is the operator's too, just not required
      if (service.composeOptIn?.optionalSecrets?.includes(name)) {
        expect({ name, value: env[name] }).toEqual({ name, value: `\${${name}:-}` });
        continue;
      }
      expect({ name, value: env[name] }).toEqual({ name, value: expect.stringMatching(/\$\{[A-Z_][A-Z0-9_]*:\?[^}]+\}/) });
    }
    expect(env.ADMIN_API_KEY).toMatch(/^\$\{ADMIN_API_KEY:\?/);
  });

  it('documents every required variable in docker/.env.example', () => {
    const required = [...JSON.stringify(compose).matchAll(/\$\{([A-Z_][A-Z0-9_]*):\?/g)].map((m) => m[1]);
    expect([...new Set(required)].filter((name) => !(name in envExample))).toEqual([]);
  });

  it('checks health on the port the app listens on, after its dependencies are healthy', () => {
    const port = effective(service.settings, env, 'HTTP_PORT');
    const test: string = [definition.healthcheck.test].flat().join(' ');
    expect(test).toMatch(new RegExp(`127\\.0\\.0\\.1:${port}/(ready|health)\\b`));
    expect((definition.ports as string[]).some((p) => String(p).endsWith(`:${port}`))).toBe(true);
    for (const [dependency, when] of Object.entries<{ condition: string }>(definition.depends_on)) {
      expect({ dependency, condition: when.condition }).toEqual({ dependency, condition: 'service_healthy' });
      expect(compose.services[dependency].healthcheck?.test).toBeDefined();
    }
  });

  it('waits longer than SHUTDOWN_GRACE_MS before killing the container', () => {
    const graceMs = effective(service.settings, env, 'SHUTDOWN_GRACE_MS') as number;
    expect(seconds(definition.stop_grace_period)).toBeGreaterThan(graceMs / 1000);
  });

  it('reaches the services its URLs name, on the ports they listen on, and waits for them', () => {
    for (const url of urlsIn(Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolate(v)]))).filter((u) => u.host in compose.services)) {
      expect({ ...url, dependsOn: url.host in (definition.depends_on ?? {}) }).toEqual({ ...url, dependsOn: true });
      const target = compose.services[url.host];
      const deployed = services.find((s) => s.name === url.host);
      const listens = deployed
        ? [effective(deployed.settings, asMap(target.environment), 'HTTP_PORT')]
        : (target.ports ?? []).map((p: string) => Number(String(p).split(':').pop()));
      expect({ ...url, listens }).toEqual({ ...url, listens: expect.arrayContaining([url.port]) });
    }
  });

  it('caps memory, and CPU where compute threads are set', () => {
    expect(definition.mem_limit).toMatch(/^\d+[mg]$/);
    if (service.cpuThreads) {
      const { threads, concurrency } = service.cpuThreads;
      expect(threads in env).toBe(true);
      const jobs = concurrency ? (effective(service.settings, env, concurrency) as number) : 1;
      const used = (effective(service.settings, env, threads) as number) * jobs;
      expect(used).toBe(Math.max(1, Math.floor(Number(definition.cpus))));
    }
  });

  it('keeps its scratch directory, if it has one, on a named volume', () => {
    if (!service.workDir) {
      // a service with state per identity keeps it on named volumes (next test), nothing else
      if (!service.singleIdentity) expect(definition.volumes ?? []).toEqual([]);
      return;
    }
    const path = effective(service.settings, env, service.workDir!.setting);
    const volume = (definition.volumes as string[]).map((v) => v.split(':')).find(([, target]) => target === path);
    expect(volume).toBeDefined();
    expect(volume![0] in (compose.volumes ?? {})).toBe(true);
  });

  it('keeps its state per identity, if it has some, on named volumes (they outlive the container)', () => {
    const dirs = service.singleIdentity?.stateDirs ?? [];
    const fillIn = service.composeOptIn?.fillIn ?? {};
    const mounts = ((definition.volumes ?? []) as string[]).map((v) => v.split(':'));
    for (const setting of dirs) {
      const path = effective(service.settings, Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolate(v, fillIn)])), setting) as string;
      const [source] = mounts.filter(([, target]) => path === target || path.startsWith(`${target}/`)).sort((a, b) => b[1].length - a[1].length)[0] ?? [];
      expect({ [setting]: path, namedVolume: !!source && source in (compose.volumes ?? {}) }).toEqual({ [setting]: path, namedVolume: true });
    }
    if (service.singleIdentity) expect(mounts.filter(([source]) => !(source in (compose.volumes ?? {})))).toEqual([]);
  });
});

// The dev chain: a hardhat node with the contracts deployed at start (docker/chain/dev-chain.mjs),
// built from the Dockerfile's target `chain`, for the services of profile `chain`.
describe('docker/compose.yaml: the dev chain', () => {
  const chain = compose.services.chain;
  const script = read('docker/chain/dev-chain.mjs');

  it('is built from the Dockerfile target that runs docker/chain/dev-chain.mjs, which the build context keeps', () => {
    expect(chain.profiles).toEqual(['chain']);
    expect(chain.build).toMatchObject({ dockerfile: 'docker/Dockerfile', target: 'chain' });
    expect(resolve(join(root, 'docker'), chain.build.context)).toBe(root);
    const dockerfile = read('docker/Dockerfile').replace(/\\\n/g, ' ').split('\n');
    const stage = dockerfile.slice(dockerfile.findIndex((l) => /^FROM \S+ AS chain$/.test(l)));
    const cmd = JSON.parse(stage.find((l) => l.startsWith('CMD '))!.slice(4));
    expect(cmd).toEqual(['node', 'docker/chain/dev-chain.mjs']);
    expect(stage.find((l) => l.startsWith('EXPOSE '))).toBe(`EXPOSE ${Number(/CHAIN_PORT \?\? (\d+)/.exec(script)![1])}`);
    expect(read('docker/Dockerfile.dockerignore').split('\n')).toContain('!docker/chain');
  });

  it('is healthy once the contracts are deployed: the health check looks for the file the script writes then', () => {
    const readyFile = /CHAIN_READY_FILE \?\? '([^']+)'/.exec(script)![1];
    expect([chain.healthcheck.test].flat().join(' ')).toContain(readyFile);
    expect(chain.ports).toEqual(['127.0.0.1:8545:8545']);
  });

  it('deploys the contracts where docker/.env.example and the local overlay say they are', () => {
    const expected = Object.fromEntries([...script.matchAll(/^\s+(\w+): '(0x[0-9a-fA-F]{40})',$/gm)].map((m) => [m[1], m[2]]));
    const named = `ModelRegistry:${expected.modelRegistry},HostCollateral:${expected.hostCollateral},UsageLedger:${expected.usageLedger},RewardsVault:${expected.rewardsVault}`;
    expect(envExample.CHAIN_CONTRACTS).toBe(named);
    for (const config of ['chain-indexer', 'incentives']) {
      expect({ config, CHAIN_CONTRACTS: readYaml(`k8s/overlays/local/${config}-config.patch.yaml`).data.CHAIN_CONTRACTS }).toEqual({
        config,
        CHAIN_CONTRACTS: named,
      });
    }
    expect(envExample.CHAIN_RPC_URL).toBe('http://chain:8545');
  });
});

describe('docker/compose.yaml: published ports', () => {
  it('never publish the same host port twice (a range counts every port in it)', () => {
    const owners = new Map<string, string[]>();
    for (const [name, definition] of Object.entries<{ ports?: (string | number)[] }>(compose.services)) {
      for (const mapping of definition.ports ?? []) {
        // [ip:]host[-host]:container
        const parts = String(mapping).split(':');
        const ip = parts.length > 2 ? parts[0] : '0.0.0.0';
        const [from, to = from] = parts[parts.length - 2].split('-').map(Number);
        for (let port = from; port <= to; port++) owners.set(`${ip}:${port}`, [...(owners.get(`${ip}:${port}`) ?? []), name]);
      }
    }
    expect([...owners].filter(([, names]) => names.length > 1)).toEqual([]);
  });
});

describe('k8s kustomizations', () => {
  const files = kustomizations();

  it('exist for base and both overlays', () => {
    const names = files.map((f) => relative(root, dirname(f)));
    expect(names).toEqual(expect.arrayContaining(['k8s/base', 'k8s/overlays/local', 'k8s/overlays/production']));
  });

  it.each(files.map((f) => relative(root, f)))('%s lists only files and folders that exist', (file) => {
    const dir = dirname(join(root, file));
    const k = readYaml(file);
    const paths: string[] = [...(k.resources ?? []), ...(k.patches ?? []).filter((p: { path?: string }) => p.path).map((p: { path: string }) => p.path)];
    for (const entry of paths) {
      const path = resolve(dir, entry);
      expect({ entry, exists: existsSync(path) }).toEqual({ entry, exists: true });
      if (statSync(path).isDirectory()) expect({ entry, kustomization: existsSync(join(path, 'kustomization.yaml')) }).toEqual({ entry, kustomization: true });
    }
  });

  it('never include the example Secret, and the base holds no Secret at all', () => {
    for (const file of files) expect(readYaml(relative(root, file)).resources ?? []).not.toContain('secrets.example.yaml');
    const base = baseObjects(join(root, 'k8s/base'));
    expect(base.filter((o) => o.kind === 'Secret').map((o) => o.metadata.name)).toEqual([]);
    // no base ConfigMap carries a credential-like key
    const keys = base.filter((o) => o.kind === 'ConfigMap').flatMap((o) => Object.keys(o.data ?? {}));
    expect(keys.filter((k) => SECRET_SETTINGS.includes(k) || looksSecret(k))).toEqual([]);
  });

  // One Secret per document: clopen-secrets for the platform, and clopen-host-gateway for the host
  // gateway's own identity (its EVM key and serving key belong to one host, not to the platform).
  it('documents every secret key the services reference in secrets.example.yaml', () => {
    const examples = parseAllDocuments(read('k8s/base/secrets.example.yaml')).map((d) => d.toJS() as K8sObject);
    expect(examples.map((e) => e.kind)).toEqual(examples.map(() => 'Secret'));
    const documented = Object.fromEntries(examples.map((e) => [e.metadata.name, Object.keys(e.stringData ?? {})]));
    const referenced = baseObjects(join(root, 'k8s/base'))
      .filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')
      .flatMap((d) => d.spec.template.spec.containers.flatMap((c: Container) => c.env ?? []))
      .map((v: EnvVar) => v.valueFrom?.secretKeyRef)
      .filter((ref): ref is { name: string; key: string } => !!ref);
    expect(referenced.length).toBeGreaterThan(0);
    for (const ref of referenced) expect({ ...ref, documented: documented[ref.name] ?? [] }).toEqual({ ...ref, documented: expect.arrayContaining([ref.key]) });
  });
});

/** Names of the gauges and counters the services register (metrics.gauge('name', …), metrics.counter('name', …)). */
function exportedMetrics(dir = join(root, 'services')): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return entry === 'node_modules' || entry === 'dist' ? [] : exportedMetrics(path);
    if (!entry.endsWith('.ts') || entry.endsWith('.spec.ts')) return [];
    return [...readFileSync(path, 'utf8').matchAll(/\.(?:gauge|counter)\(\s*'([a-z_]+)'/g)].map((m) => m[1]);
  });
}

describe('k8s base: Secrets of one workload', () => {
  const objects = baseObjects(join(root, 'k8s/base'));
  const workloads = objects.filter((o) => ['Deployment', 'StatefulSet', 'Job'].includes(o.kind));
  const refs = workloads.flatMap((w) =>
    [...(w.spec.template.spec.initContainers ?? []), ...w.spec.template.spec.containers].flatMap((c: Container) =>
      (c.env ?? [])
        .filter((v) => v.valueFrom?.secretKeyRef)
        .map((v) => ({ workload: w.metadata.name, secret: v.valueFrom!.secretKeyRef!.name, key: v.valueFrom!.secretKeyRef!.key })),
    ),
  );

  it.each(services.filter((s) => s.ownSecrets))('$name reads its own Secrets, and no other workload does', (service) => {
    for (const [secret, keys] of Object.entries(service.ownSecrets!)) {
      const read = refs.filter((r) => r.secret === secret);
      expect(read.filter((r) => r.workload !== service.name)).toEqual([]);
      expect(read.map((r) => r.key)).toEqual(expect.arrayContaining(keys));
      // and the keys themselves come from nowhere else (e.g. the protocol key never from clopen-secrets)
      expect(refs.filter((r) => keys.includes(r.key) && r.secret !== secret)).toEqual([]);
    }
  });
});

describe.each(services)('k8s base: $name', (service) => {
  const objects = baseObjects(join(root, 'k8s/base'));

  it('deploys with every required setting, known names, secrets by reference, and matching probes', () => {
    checkDeployment(objects, service, 'k8s/base');
  });

  it("rolls out without losing capacity and scales (an api on CPU; a queue's worker on its queue; other workers by replicas)", () => {
    if (service.singleIdentity) {
      // One pod per identity: a StatefulSet replaces it (old pod gone before the new one starts, so
      // two never serve one host key at once) and nothing may scale it.
      const set = find(objects, 'StatefulSet', service.name);
      expect(set.spec.replicas).toBe(1);
      expect(set.spec.updateStrategy?.type ?? 'RollingUpdate').toBe('RollingUpdate');
      expect(find(objects, 'PodDisruptionBudget', service.name).spec.selector.matchLabels).toEqual(set.spec.selector.matchLabels);
      expect(
        objects.filter((o) => o.kind === 'HorizontalPodAutoscaler' && (o.metadata.name === service.name || o.spec.scaleTargetRef?.name === service.name)),
      ).toEqual([]);
      expect(objects.some((o) => o.kind === 'Deployment' && o.metadata.name === service.name)).toBe(false);
      return;
    }
    const deployment = find(objects, 'Deployment', service.name);
    if (service.singleton) {
      // Recreate, at most one replica, no HPA: checkDeployment; the PDB still lets a drain evict it
      expect(find(objects, 'PodDisruptionBudget', service.name).spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
      return;
    }
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    expect(find(objects, 'PodDisruptionBudget', service.name).spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    const hasHpa = objects.some((o) => o.kind === 'HorizontalPodAutoscaler' && o.metadata.name === service.name);
    if (service.role === 'worker' && !service.queueScaling && !hasHpa) return;
    const hpa = find(objects, 'HorizontalPodAutoscaler', service.name);
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: service.name });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(1);
    if (service.queueScaling) {
      // on the queue's length, one replica per jobsPerReplica jobs, from a metric a service exports
      const { metric, jobsPerReplica } = service.queueScaling;
      const container: Container = deployment.spec.template.spec.containers.find((c: Container) => c.name === service.name);
      const perReplica = effective(service.settings, containerEnvironment(objects, container).env, jobsPerReplica);
      expect(hpa.spec.metrics.map((m: { type: string }) => m.type)).toEqual(['External']);
      expect(hpa.spec.metrics[0].external.metric.name).toBe(metric);
      expect(hpa.spec.metrics[0].external.target).toEqual({ type: 'AverageValue', averageValue: String(perReplica) });
      expect(exportedMetrics()).toContain(metric);
      // scaling down stops workers that may run a job (they finish it within their grace period)
      expect(hpa.spec.behavior?.scaleDown?.stabilizationWindowSeconds).toBeGreaterThanOrEqual(600);
      return;
    }
    expect(hpa.spec.metrics.map((m: { resource?: { name: string } }) => m.resource?.name)).toContain('cpu');
  });
});

// ---------------------------------------------------------------------------------------------
// The migrations Job: each service with a database, from its own image with MIGRATE_ONLY=true
// (libs/service-kit: apply the migrations with nothing but DATABASE_URL, and exit).

const withDatabase = services.filter((s) => 'DATABASE_URL' in s.settings);

function checkMigrationsJob(objects: K8sObject[], where: string) {
  const job = find(objects, 'Job', 'migrate');
  // `kubectl apply -k <overlay> -l app.kubernetes.io/component=migrations` selects this Job alone
  const selected = objects.filter((o) => o.metadata.labels?.['app.kubernetes.io/component'] === 'migrations');
  expect(selected.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['Job/migrate']);
  const pod = job.spec.template.spec;
  expect(['OnFailure', 'Never']).toContain(pod.restartPolicy);
  expect(job.spec.backoffLimit).toBeGreaterThan(0);
  expect(pod.containers.map((c: Container) => c.name).sort()).toEqual(withDatabase.map((s) => s.name).sort());
  for (const service of withDatabase) {
    const container: Container = pod.containers.find((c: Container) => c.name === service.name);
    const workload: Container = find(objects, workloadKind(service), service.name).spec.template.spec.containers.find(
      (c: Container) => c.name === service.name,
    );
    // the same image (and tag, after an overlay's images) as the service it migrates
    expect({ [service.name]: container.image }).toEqual({ [service.name]: workload.image });
    const { env, fromSecrets, literal } = containerEnvironment(objects, container);
    expect([...literal, ...fromSecrets].filter((k) => !(k in service.settings) && !RUNTIME_VARIABLES.includes(k))).toEqual([]);
    expect({ [service.name]: env.MIGRATE_ONLY }).toEqual({ [service.name]: 'true' });
    const databaseOf = (c: Container) => c.env?.find((v) => v.name === 'DATABASE_URL')?.valueFrom?.secretKeyRef;
    expect(databaseOf(container)).toEqual(databaseOf(workload));
    // what MIGRATE_ONLY reads is all there and valid (nothing else is required then)
    expectValidEnvironment(
      { MIGRATE_ONLY: service.settings.MIGRATE_ONLY, DATABASE_URL: service.settings.DATABASE_URL },
      { MIGRATE_ONLY: env.MIGRATE_ONLY, DATABASE_URL: env.DATABASE_URL },
      `${where} migrate/${service.name}`,
    );
    const security = { ...pod.securityContext, ...container.securityContext };
    expect(security).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(security.runAsUser).toBeGreaterThan(0);
    const { requests, limits } = container.resources ?? {};
    expect(bytesOf(requests?.memory)).toBeLessThanOrEqual(bytesOf(limits?.memory));
    expect(coresOf(requests?.cpu)).toBeLessThanOrEqual(coresOf(limits?.cpu));
    const heap = /--max-old-space-size=(\d+)/.exec(env.NODE_OPTIONS ?? '');
    if (heap) expect(Number(heap[1]) * 2 ** 20).toBeLessThan(bytesOf(limits?.memory));
  }
}

describe('k8s base: the migrations Job', () => {
  it('migrates every service with a database, from its image, with MIGRATE_ONLY=true and its DATABASE_URL only', () => {
    checkMigrationsJob(baseObjects(join(root, 'k8s/base')), 'k8s/base');
  });
});

// ---------------------------------------------------------------------------------------------
// NATS JetStream (k8s/base/nats): a StatefulSet with its configuration in the ConfigMap nats-config;
// one server in the base and the local overlay, a cluster of three in production.

/** NATS sizes ("8G", "512M"): binary units, as the server reads them. */
function natsBytes(size: string | undefined): number {
  const m = /^(\d+)([KMGT])?B?$/i.exec(size ?? '');
  if (!m) throw new Error(`not a NATS size: ${size}`);
  return Number(m[1]) * 1024 ** ' KMGT'.indexOf((m[2] ?? ' ').toUpperCase());
}

/** The parts of nats.conf the checks read; the file is NATS's syntax (key: value, blocks, lists). */
function natsConf(text: string) {
  const block = (name: string) => new RegExp(`^\\s*${name}\\s*\\{([\\s\\S]*?)^\\s*\\}`, 'm').exec(text)?.[1];
  const field = (source: string | undefined, key: string) =>
    source ? new RegExp(`^\\s*${key}\\s*[:=]\\s*"?([^"\\s]+)"?\\s*$`, 'm').exec(source)?.[1] : undefined;
  const port = (address: string | undefined) => (address ? Number(address.split(':').pop()) : undefined);
  const top = text.replace(/^\s*\w+\s*\{[\s\S]*?^\s*\}/gm, ''); // top-level keys only
  const jetstream = block('jetstream');
  const cluster = block('cluster');
  return {
    serverName: field(top, 'server_name'),
    clientPort: port(field(top, 'listen')),
    monitorPort: port(field(top, 'http')),
    pidFile: field(top, 'pid_file'),
    storeDir: field(jetstream, 'store_dir'),
    maxFileStore: field(jetstream, 'max_file_store'),
    cluster:
      cluster === undefined
        ? undefined
        : {
            port: port(field(cluster, 'listen')),
            routes: [...(/routes\s*[:=]?\s*\[([\s\S]*?)\]/.exec(cluster)?.[1] ?? '').matchAll(/nats:\/\/([^\s,\]]+)/g)].map((m) => m[1]),
          },
  };
}

function checkNats(objects: K8sObject[], where: string, expectedServers: number) {
  const set = find(objects, 'StatefulSet', 'nats');
  const pod = set.spec.template.spec;
  const container: Container & { args?: string[] } = pod.containers.find((c: Container) => c.name === 'nats');
  // the configuration file the server is started with, from the ConfigMap it is mounted from
  const configPath = container.args?.[container.args.indexOf('-c') + 1] ?? '';
  const mount = mountOf(container, configPath)!;
  const volume = pod.volumes.find((v: { name: string }) => v.name === mount.name);
  const conf = natsConf(find(objects, 'ConfigMap', volume.configMap.name).data?.[relative(mount.mountPath, configPath)] ?? '');
  const portNamed = (port: number | undefined) => container.ports?.find((p) => p.containerPort === port)?.name;

  expect({ where, servers: set.spec.replicas }).toEqual({ where, servers: expectedServers });
  // each server keeps its name across restarts (JetStream places streams by server name)
  expect(conf.serverName).toBe('$SERVER_NAME');
  expect(container.env?.find((v) => v.name === 'SERVER_NAME')?.valueFrom).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
  // the client Service reaches the listen port; clopen-common's NATS_URL names that Service and port
  expect(portNamed(conf.clientPort)).toBeDefined();
  const client = find(objects, 'Service', 'nats');
  expect(client.spec.ports.map((p: { targetPort: string }) => portNamed(conf.clientPort) === p.targetPort)).toContain(true);
  const natsUrl = urlsIn({ NATS_URL: find(objects, 'ConfigMap', 'clopen-common').data?.NATS_URL ?? '' })[0];
  expect({ host: natsUrl.host, port: natsUrl.port }).toEqual({ host: 'nats', port: client.spec.ports[0].port });
  // probes on the monitoring port
  for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe]) {
    expect(probe?.httpGet?.path).toMatch(/^\/healthz\b/);
    expect(portOf(container, probe?.httpGet?.port)).toBe(conf.monitorPort);
  }
  // JetStream's files on the server's own claim, with room to spare; the pid file (lame duck) writable
  const store = mountOf(container, conf.storeDir ?? '/');
  const claim = (set.spec.volumeClaimTemplates ?? []).find((t: K8sObject) => t.metadata.name === store?.name);
  expect({ storeDir: conf.storeDir, claim: claim?.metadata.name }).toEqual({ storeDir: conf.storeDir, claim: expect.any(String) });
  expect(natsBytes(conf.maxFileStore)).toBeLessThan(bytesOf(claim.spec.resources.requests.storage));
  const pidMount = mountOf(container, conf.pidFile ?? '/');
  expect(pod.volumes.find((v: { name: string }) => v.name === pidMount?.name)?.emptyDir).toBeDefined();
  expect(container.lifecycle?.preStop?.exec?.command.join(' ')).toContain(`ldm=${conf.pidFile}`);
  const security = { ...pod.securityContext, ...container.securityContext };
  expect(security).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true });
  expect(find(objects, 'PodDisruptionBudget', 'nats').spec.maxUnavailable).toBe(1);
  // a cluster exactly when there is more than one server: routes to every server by its stable name
  // under the headless Service, on the cluster port; an odd count keeps a JetStream quorum
  const headless = find(objects, 'Service', set.spec.serviceName);
  expect(headless.spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });
  if (expectedServers === 1) {
    expect(conf.cluster).toBeUndefined();
    return;
  }
  expect(expectedServers % 2).toBe(1);
  expect(set.spec.podManagementPolicy).toBe('Parallel');
  expect(portNamed(conf.cluster!.port)).toBeDefined();
  expect(headless.spec.ports.map((p: { targetPort: string }) => p.targetPort)).toContain(portNamed(conf.cluster!.port));
  expect(conf.cluster!.routes).toEqual(Array.from({ length: expectedServers }, (_, i) => `nats-${i}.${set.spec.serviceName}:${conf.cluster!.port}`));
}

describe('k8s base: NATS JetStream', () => {
  it('runs one server from nats-config, JetStream on its claim, behind the Service clopen-common names', () => {
    checkNats(baseObjects(join(root, 'k8s/base')), 'k8s/base', 1);
  });
});

// ---------------------------------------------------------------------------------------------
// NetworkPolicies (k8s/base/network-policies): default deny, and exactly the connections the
// workloads' settings imply. The rules are evaluated here as Kubernetes does: a connection needs the
// source's egress (when a policy selects the source for Egress) and the destination's ingress (when
// one selects it for Ingress).

type Labels = Record<string, string>;
interface LabelSelector {
  matchLabels?: Labels;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}
interface PolicyPort {
  protocol?: string;
  port?: number | string;
}
interface PolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string };
}
interface PolicyRule {
  ports?: PolicyPort[];
  from?: PolicyPeer[];
  to?: PolicyPeer[];
}
/** One end of a connection: a pod of a namespace (this one unless said), or an address outside the cluster. */
interface Endpoint {
  what: string;
  pod?: { labels: Labels; ports: { name?: string; containerPort: number }[] };
  /** Labels of the pod's namespace; absent: this namespace. */
  namespace?: Labels;
  outside?: boolean;
}

const NAMESPACE = 'clopen';
const OWN_NAMESPACE: Labels = { 'kubernetes.io/metadata.name': NAMESPACE };

function selects(selector: LabelSelector | undefined, labels: Labels): boolean {
  if (!selector) return true;
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  return (
    byLabels &&
    (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) =>
      operator === 'In'
        ? values.includes(labels[key])
        : operator === 'NotIn'
          ? !values.includes(labels[key])
          : operator === 'Exists'
            ? key in labels
            : !(key in labels),
    )
  );
}

function peerMatches(peer: PolicyPeer, other: Endpoint): boolean {
  if (peer.ipBlock) return !!other.outside; // addresses: only outside the cluster here (no rule names pod IPs)
  if (other.outside || !other.pod) return false;
  if (peer.namespaceSelector) return selects(peer.namespaceSelector, other.namespace ?? OWN_NAMESPACE) && selects(peer.podSelector, other.pod.labels);
  return !other.namespace && selects(peer.podSelector, other.pod.labels);
}

function portMatches(ports: PolicyPort[] | undefined, destination: Endpoint, port: number, protocol: string): boolean {
  if (!ports?.length) return true;
  return ports.some((p) => {
    if ((p.protocol ?? 'TCP') !== protocol) return false;
    if (p.port === undefined) return true;
    if (typeof p.port === 'number') return p.port === port;
    return destination.pod?.ports.some((cp) => cp.name === p.port && cp.containerPort === port) ?? false;
  });
}

function policiesFor(objects: K8sObject[], endpoint: Endpoint, type: 'Ingress' | 'Egress') {
  if (endpoint.outside || endpoint.namespace || !endpoint.pod) return undefined; // not this namespace's to decide
  return objects
    .filter((o) => o.kind === 'NetworkPolicy' && selects(o.spec.podSelector, endpoint.pod!.labels))
    .filter((o) => (o.spec.policyTypes ?? (o.spec.egress ? ['Ingress', 'Egress'] : ['Ingress'])).includes(type));
}

function connects(objects: K8sObject[], from: Endpoint, to: Endpoint, port: number, protocol = 'TCP'): boolean {
  const egress = policiesFor(objects, from, 'Egress');
  const egressOk =
    !egress ||
    egress.some((p) =>
      (p.spec.egress ?? []).some((r: PolicyRule) => portMatches(r.ports, to, port, protocol) && (!r.to?.length || r.to.some((peer) => peerMatches(peer, to)))),
    );
  const ingress = policiesFor(objects, to, 'Ingress');
  const ingressOk =
    !ingress ||
    ingress.some((p) =>
      (p.spec.ingress ?? []).some(
        (r: PolicyRule) => portMatches(r.ports, to, port, protocol) && (!r.from?.length || r.from.some((peer) => peerMatches(peer, from))),
      ),
    );
  return egressOk && ingressOk;
}

/** Every workload's pod: labels, ports and containers. */
function podsOf(objects: K8sObject[]) {
  return objects
    .filter((o) => ['Deployment', 'StatefulSet', 'Job'].includes(o.kind))
    .map((w) => {
      const containers: Container[] = w.spec.template.spec.containers;
      const endpoint: Endpoint = {
        what: `${w.kind}/${w.metadata.name}`,
        pod: { labels: w.spec.template.metadata.labels, ports: containers.flatMap((c) => c.ports ?? []) },
      };
      return { name: w.metadata.name, workload: w, containers, endpoint };
    });
}

/** Where a URL's host:port leads: the pods behind a Service of this namespace (its target port), or outside. */
function destinationOf(objects: K8sObject[], pods: ReturnType<typeof podsOf>, host: string, port: number): { endpoint: Endpoint; port: number }[] {
  const service = objects.find((o) => o.kind === 'Service' && o.metadata.name === host);
  if (!service) return [{ endpoint: { what: host, outside: true }, port }];
  const servicePort = service.spec.ports.find((p: { port: number }) => p.port === port);
  expect({ host, port, servicePort: !!servicePort }).toEqual({ host, port, servicePort: true });
  return pods
    .filter((p) => selects({ matchLabels: service.spec.selector }, p.endpoint.pod!.labels) && p.workload.kind !== 'Job')
    .map((p) => ({
      endpoint: p.endpoint,
      port:
        typeof servicePort.targetPort === 'number'
          ? servicePort.targetPort
          : p.endpoint.pod!.ports.find((cp) => cp.name === (servicePort.targetPort ?? servicePort.port))!.containerPort,
    }));
}

/** Secrets whose values are URLs: every form a deployment may give them (the stand-in, a local dev value). */
const URL_SECRET_FORMS: Record<string, string[]> = {
  CHAIN_RPC_URL: [secretStandIn('CHAIN_RPC_URL'), 'http://host.docker.internal:8545'],
};

/** What each workload's settings name: [destination pod or outside address, port]. */
function impliedConnections(objects: K8sObject[]) {
  const pods = podsOf(objects);
  const common = find(objects, 'ConfigMap', 'clopen-common').data ?? {};
  const s3Public = urlsIn({ S3: common.S3_PUBLIC_ENDPOINT ?? common.S3_ENDPOINT ?? '' });
  return pods.flatMap((source) => {
    // what each container reads: a service's own settings (clopen-common holds others' too)
    const env = Object.assign(
      {},
      ...source.containers.map((c) => {
        const settings = services.find((s) => s.name === c.name)?.settings;
        return Object.fromEntries(Object.entries(containerEnvironment(objects, c).env).filter(([k]) => !settings || k in settings));
      }),
    ) as Record<string, string>;
    const urls = urlsIn(env).flatMap((u) => (u.name in URL_SECRET_FORMS ? URL_SECRET_FORMS[u.name].flatMap((v) => urlsIn({ [u.name]: v })) : [u]));
    const service = services.find((s) => s.name === source.name);
    if (service?.downloadsPresigned) urls.push(...s3Public);
    if (source.name === 'nats') {
      // a cluster's routes, from nats.conf (see checkNats)
      const conf = natsConf(find(objects, 'ConfigMap', 'nats-config').data?.['nats.conf'] ?? '');
      for (const route of conf.cluster?.routes ?? []) urls.push({ name: 'route', host: route.split(':')[0].split('.')[1], port: Number(route.split(':')[1]) });
    }
    return urls
      .filter((u) => u.host !== 'localhost' && u.host !== '127.0.0.1')
      .flatMap((u) =>
        destinationOf(objects, pods, u.host, u.port).map((d) => ({
          from: source.endpoint,
          to: d.endpoint,
          port: d.port,
          because: `${u.name}=${u.host}:${u.port}`,
        })),
      );
  });
}

function checkNetworkPolicies(objects: K8sObject[], where: string) {
  const pods = podsOf(objects);
  // default deny: a policy for every pod, both directions, allowing nothing itself
  const deny = objects.filter(
    (o) => o.kind === 'NetworkPolicy' && Object.keys(o.spec.podSelector ?? {}).length === 0 && !o.spec.ingress?.length && !o.spec.egress?.length,
  );
  expect(deny.flatMap((o) => o.spec.policyTypes).sort()).toEqual(['Egress', 'Ingress']);

  // every connection the settings imply is allowed
  const implied = impliedConnections(objects);
  expect(implied.length).toBeGreaterThan(0);
  const blocked = implied.filter((c) => !connects(objects, c.from, c.to, c.port)).map((c) => `${c.from.what} → ${c.to.what}:${c.port} (${c.because})`);
  expect({ where, blocked }).toEqual({ where, blocked: [] });

  // and no other connection between this namespace's pods (a workload's own pods aside: NATS's servers
  // may route to one another whether or not a cluster is configured)
  const expected = new Set(implied.map((c) => `${c.from.what} → ${c.to.what}:${c.port}`));
  const unexpected = pods.flatMap((a) =>
    pods
      .filter((b) => b !== a)
      .flatMap((b) =>
        b.endpoint
          .pod!.ports.filter(
            (p) => !expected.has(`${a.endpoint.what} → ${b.endpoint.what}:${p.containerPort}`) && connects(objects, a.endpoint, b.endpoint, p.containerPort),
          )
          .map((p) => `${a.endpoint.what} → ${b.endpoint.what}:${p.containerPort}`),
      ),
  );
  expect({ where, unexpected }).toEqual({ where, unexpected: [] });

  // from outside the cluster and from other namespaces: the host gateway's API only; the other APIs
  // from namespaces labelled clopen.io/api-clients; every workload's metrics port from those labelled
  // clopen.io/metrics
  const internet: Endpoint = { what: 'the internet', outside: true };
  const otherPod = (labels: Labels): Endpoint => ({
    what: `a pod of a namespace labelled ${JSON.stringify(labels)}`,
    pod: { labels: {}, ports: [] },
    namespace: { 'kubernetes.io/metadata.name': 'elsewhere', ...labels },
  });
  const reachable = (from: Endpoint) =>
    pods
      .flatMap((b) => b.endpoint.pod!.ports.filter((p) => connects(objects, from, b.endpoint, p.containerPort)).map((p) => `${b.name}:${p.containerPort}`))
      .sort();
  const gatewayPort = `host-gateway:${effective(gatewaySettings, {}, 'HTTP_PORT')}`;
  expect({ where, from: internet.what, reachable: reachable(internet) }).toEqual({ where, from: internet.what, reachable: [gatewayPort] });
  expect({ where, reachable: reachable(otherPod({})) }).toEqual({ where, reachable: [gatewayPort] });
  const apis = services.filter((s) => s.role === 'api').map((s) => `${s.name}:${effective(s.settings, {}, 'HTTP_PORT')}`);
  expect({ where, reachable: reachable(otherPod({ 'clopen.io/api-clients': 'true' })) }).toEqual({ where, reachable: apis.sort() });
  const scraped = pods
    .filter((p) => p.workload.spec.template.metadata.annotations?.['prometheus.io/port'])
    .map((p) => `${p.name}:${p.workload.spec.template.metadata.annotations['prometheus.io/port']}`);
  expect(reachable(otherPod({ 'clopen.io/metrics': 'true' }))).toEqual(expect.arrayContaining(scraped));

  // every pod resolves names (kube-dns in kube-system, or a node-local cache)
  const dns: Endpoint = {
    what: 'kube-dns',
    pod: { labels: { 'k8s-app': 'kube-dns' }, ports: [] },
    namespace: { 'kubernetes.io/metadata.name': 'kube-system' },
  };
  expect(pods.filter((p) => !connects(objects, p.endpoint, dns, 53, 'UDP')).map((p) => p.name)).toEqual([]);
}

describe('k8s base: NetworkPolicies', () => {
  it('deny by default and allow exactly what the settings name (dependencies outside the namespace)', () => {
    checkNetworkPolicies(baseObjects(join(root, 'k8s/base')), 'k8s/base');
  });
});

// Rendering needs kubectl (its built-in kustomize); without it only the unrendered base is checked.
(kubectl ? describe.each : describe.skip.each)(['local', 'production'].map((o) => `overlays/${o}`))('k8s %s (rendered with kubectl kustomize)', (overlay) => {
  it.each(services)('deploys $name correctly after patches', (service) => {
    const objects = render(overlay);
    checkDeployment(objects, service, `k8s/${overlay}`);
    expect(objects.filter((o) => o.kind === 'Secret').map((o) => o.metadata.name)).toEqual([]);
  });

  it('runs NATS JetStream as one server locally and as a cluster of three in production', () => {
    checkNats(render(overlay), `k8s/${overlay}`, overlay.endsWith('production') ? 3 : 1);
  });

  it('allows exactly the connections the settings name (NetworkPolicies)', () => {
    checkNetworkPolicies(render(overlay), `k8s/${overlay}`);
  });

  it("runs the migrations Job with each service's image and tag", () => {
    checkMigrationsJob(render(overlay), `k8s/${overlay}`);
  });

  it('has a Service for every in-namespace host the shared config names (e.g. redis in local, storage everywhere)', () => {
    const objects = render(overlay);
    const urls = urlsIn(find(objects, 'ConfigMap', 'clopen-common').data ?? {}).filter((u) => !u.host.includes('.') && u.host !== 'localhost');
    for (const url of urls) {
      const service = objects.find((o) => o.kind === 'Service' && o.metadata.name === url.host);
      const ports = service?.spec.ports.map((p: { port: number }) => p.port) ?? [];
      expect({ ...url, ports }).toEqual({ ...url, ports: expect.arrayContaining([url.port]) });
    }
  });
});

const usesEngine = Object.fromEntries(
  services.filter((s) => '@clopen/fingerprint' in (JSON.parse(read(`services/${s.name}/package.json`)).dependencies ?? {})).map((s) => [s.name, true]),
);

describe.each(services)('docker/Dockerfile: $name', (service) => {
  // instructions, with line continuations joined and comments dropped
  const instructions = read('docker/Dockerfile')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const finalStage = instructions.slice(instructions.map((l) => l.startsWith('FROM ')).lastIndexOf(true));
  const last = (op: string) =>
    [...finalStage]
      .reverse()
      .find((l) => l.startsWith(`${op} `))
      ?.slice(op.length + 1);
  const pkg = JSON.parse(read(`services/${service.name}/package.json`));
  const build = instructions.find((l) => l.includes('nx run-many -t build'))!;
  const copied = build
    .slice(build.indexOf('cp -a --parents'))
    .split(/\s+/)
    .map((w) => w.replace(/"/g, ''));

  it('starts the compiled entry point named by the service package.json', () => {
    const cmd: string[] = JSON.parse(last('CMD')!);
    const line = cmd.join(' ').replace(/\$\{SERVICE\}/g, service.name);
    expect(line).toContain(`node services/${service.name}/${pkg.main}`);
    expect(pkg.main).toBe('dist/main.js');
    // through a shell only with exec, so node is PID 1 and receives SIGTERM itself
    if (cmd[0] === 'sh') expect(cmd[2]).toMatch(/^exec node /);
    if (cmd.join(' ').includes('${SERVICE}')) expect(finalStage.some((l) => /^ENV .*\bSERVICE=\$\{SERVICE\}/.test(l))).toBe(true);
  });

  it('runs as a non-root user in production mode', () => {
    expect(last('USER')).toBeDefined();
    expect(last('USER')).not.toMatch(/^(root|0)(:|$)/);
    expect(finalStage.some((l) => /^ENV .*\bNODE_ENV=production\b/.test(l))).toBe(true);
  });

  it('exposes the default HTTP_PORT and checks /health', () => {
    expect(Number(last('EXPOSE'))).toBe(effective(service.settings, {}, 'HTTP_PORT'));
    expect(last('HEALTHCHECK')).toContain('/health');
  });

  it('installs exactly its Debian packages in the runtime stage, without recommends', () => {
    // RUN case "${SERVICE}" in embedder) packages="…" ;; *) packages="" ;; esac && … apt-get install … ${packages}
    const run = finalStage.find((l) => /^RUN case "\$\{SERVICE\}" in /.test(l));
    expect(run).toBeDefined();
    const branches = [...run!.matchAll(/([\w*|-]+)\)\s*packages="([^"]*)"/g)].map(([, pattern, list]) => ({
      patterns: pattern.split('|'),
      packages: list.split(/\s+/).filter(Boolean),
    }));
    const branch = branches.find((b) => b.patterns.includes(service.name)) ?? branches.find((b) => b.patterns.includes('*'));
    expect(branch?.packages.sort()).toEqual([...(service.debianPackages ?? [])].sort());
    expect(run).toMatch(/apt-get install -y --no-install-recommends \$\{packages\}/);
    expect(run).toContain('rm -rf /var/lib/apt/lists/*');
  });

  it('ships the Python engine, where libs/fingerprint resolves it, exactly when it runs it', () => {
    if (!(service.name in usesEngine)) {
      expect(service.debianPackages ?? []).not.toContain('python3-torch');
      return;
    }
    expect(service.debianPackages).toContain('python3-torch');
    // src/ and dist/ are siblings (swc --strip-leading-paths), so ENGINE_PYTHON_DIR is the same from either
    const inImage = join('libs/fingerprint/dist', relative(join(root, 'libs/fingerprint/src'), ENGINE_PYTHON_DIR));
    expect(inImage).toBe(join('libs/fingerprint/python'));
    const engine = copied.find((path) => path.startsWith(`${inImage}/`) && existsSync(join(root, path, '__main__.py')));
    expect({ copies: `${inImage}/<package with __main__.py>`, found: engine }).toEqual({ copies: expect.any(String), found: expect.any(String) });
    expect(read('docker/Dockerfile.dockerignore').split('\n')).toContain('**/__pycache__');
  });

  it('builds every lib the runtime resolves through node_modules/@clopen/* from dist/', () => {
    expect(build).toContain('tag:type:lib');
    for (const lib of readdirSync(join(root, 'libs')).filter((d) => existsSync(join(root, 'libs', d, 'project.json')))) {
      expect({ lib, tags: readYaml(`libs/${lib}/project.json`).tags }).toEqual({ lib, tags: expect.arrayContaining(['type:lib']) });
      expect({ lib, main: readYaml(`libs/${lib}/package.json`).main }).toEqual({ lib, main: 'dist/index.js' });
    }
    expect(build).toMatch(/cp -a --parents .*libs\/\*\/dist.*services\/\$\{SERVICE\}\/dist/);
  });

  it('keeps host node_modules and dist out of the build context', () => {
    const ignore = read('docker/Dockerfile.dockerignore').split('\n');
    expect(ignore).toEqual(expect.arrayContaining(['**/node_modules', '**/dist']));
    expect(ignore.filter((l) => /^(libs|services)\b/.test(l))).toEqual([]);
  });
});
