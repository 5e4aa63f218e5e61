// Static checks that keep docker/ and k8s/ in step with the services' settings: a renamed or new
// required setting, a typo in an env var, a probe on the wrong path or port, or a secret written
// into a manifest fails here instead of in a cluster.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { storageSettings } from '../../services/storage/src/storage.settings';

const root = resolve(__dirname, '../..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const readYaml = (path: string) => parse(read(path), { merge: true }); // compose uses YAML merge keys (<<)

type Shape = Record<string, z.ZodTypeAny>;

/** Every deployed service, by its folder name in services/. A new service adds one line. */
const services: { name: string; settings: Shape }[] = [{ name: 'storage', settings: storageSettings }];

/** Settings whose values are credentials: they come from a Secret / .env, never a manifest. */
const SECRET_SETTINGS = ['ADMIN_API_KEY', 'DATABASE_URL', 'S3_ACCESS_KEY', 'S3_SECRET_KEY'];
/** Names that look like credentials must be in SECRET_SETTINGS (REDIS_URL may carry a password too). */
const looksSecret = (name: string) => /(_KEY|SECRET|PASSWORD|TOKEN)$/.test(name) || name === 'DATABASE_URL';
/** Read by node itself, not by the service's settings. */
const RUNTIME_VARIABLES = ['NODE_OPTIONS'];
/** Stands in for a secret's value when a whole environment is validated. */
const secretStandIn = (name: string) => (name === 'DATABASE_URL' ? 'postgres://clopen:secret@postgres:5432/clopen' : 's'.repeat(32));

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
  resources?: { limits?: { memory?: string } };
}
interface Probe {
  httpGet?: { path: string; port: number | string };
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
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

function render(overlay: string): K8sObject[] {
  const out = execFileSync('kubectl', ['kustomize', join(root, 'k8s', overlay)], { encoding: 'utf8', timeout: 60_000 });
  return parseAllDocuments(out).map((d) => d.toJS() as K8sObject);
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

/** Checks every Deployment of `service` must pass, in the base and in each rendered overlay. */
function checkDeployment(objects: K8sObject[], service: { name: string; settings: Shape }, where: string) {
  const deployment = find(objects, 'Deployment', service.name);
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

  // the heap cap, when set, leaves room under the memory limit
  const heap = /--max-old-space-size=(\d+)/.exec(env.NODE_OPTIONS ?? '');
  const limit = /^(\d+)Mi$/.exec(container.resources?.limits?.memory ?? '');
  expect(limit).not.toBeNull();
  if (heap) expect(Number(heap[1])).toBeLessThan(Number(limit![1]));

  // the Service reaches the named container port
  const svc = find(objects, 'Service', service.name);
  for (const p of svc.spec.ports) expect(portOf(container, p.targetPort)).toBe(httpPort);
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

/** Compose's interpolation with the values an operator would supply from .env.example. */
const interpolate = (value: string) =>
  value.replace(/\$\{([A-Z_][A-Z0-9_]*)(?::?([-?])([^}]*))?\}/g, (_, name: string, op: string | undefined, arg: string) =>
    envExample[name] ? envExample[name] : op === '-' ? arg : secretStandIn(name),
  );

const seconds = (duration: string) => {
  const m = /^(?:(\d+)m)?(?:(\d+)s)?$/.exec(duration);
  if (!m) throw new Error(`unsupported duration ${duration}`);
  return Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0);
};

// ---------------------------------------------------------------------------------------------

describe('the list of secret settings', () => {
  it.each(services)('covers every credential-like setting of $name', ({ settings }) => {
    expect(Object.keys(settings).filter(looksSecret).filter((k) => !SECRET_SETTINGS.includes(k))).toEqual([]);
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
    expectValidEnvironment(service.settings, Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolate(v)])), 'compose');
  });

  it('takes secrets from the operator (required ${VAR:?...}), never literally', () => {
    for (const name of SECRET_SETTINGS.filter((s) => s in env)) {
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

  it('documents every secret key the services reference in secrets.example.yaml', () => {
    const example = parse(read('k8s/base/secrets.example.yaml')) as K8sObject;
    const referenced = baseObjects(join(root, 'k8s/base'))
      .filter((o) => o.kind === 'Deployment')
      .flatMap((d) => d.spec.template.spec.containers.flatMap((c: Container) => c.env ?? []))
      .map((v: EnvVar) => v.valueFrom?.secretKeyRef)
      .filter((ref): ref is { name: string; key: string } => !!ref);
    for (const ref of referenced) {
      expect(ref.name).toBe(example.metadata.name);
      expect(Object.keys(example.stringData ?? {})).toContain(ref.key);
    }
  });
});

describe.each(services)('k8s base: $name', (service) => {
  const objects = baseObjects(join(root, 'k8s/base'));

  it('deploys with every required setting, known names, secrets by reference, and matching probes', () => {
    checkDeployment(objects, service, 'k8s/base');
  });

  it('rolls out without losing capacity and scales on CPU', () => {
    const deployment = find(objects, 'Deployment', service.name);
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    expect(find(objects, 'PodDisruptionBudget', service.name).spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    const hpa = find(objects, 'HorizontalPodAutoscaler', service.name);
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: service.name });
    expect(hpa.spec.metrics.map((m: { resource?: { name: string } }) => m.resource?.name)).toContain('cpu');
  });
});

// Rendering needs kubectl (its built-in kustomize); without it only the unrendered base is checked.
(kubectl ? describe.each : describe.skip.each)(['local', 'production'].map((o) => `overlays/${o}`))('k8s %s (rendered with kubectl kustomize)', (overlay) => {
  it.each(services)('deploys $name correctly after patches', (service) => {
    const objects = render(overlay);
    checkDeployment(objects, service, `k8s/${overlay}`);
    expect(objects.filter((o) => o.kind === 'Secret').map((o) => o.metadata.name)).toEqual([]);
  });
});

describe.each(services)('docker/Dockerfile: $name', (service) => {
  // instructions, with line continuations joined and comments dropped
  const instructions = read('docker/Dockerfile')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const finalStage = instructions.slice(instructions.map((l) => l.startsWith('FROM ')).lastIndexOf(true));
  const last = (op: string) => [...finalStage].reverse().find((l) => l.startsWith(`${op} `))?.slice(op.length + 1);
  const pkg = JSON.parse(read(`services/${service.name}/package.json`));

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

  it('builds every lib the runtime resolves through node_modules/@clopen/* from dist/', () => {
    const build = instructions.find((l) => l.includes('nx run-many -t build'));
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
