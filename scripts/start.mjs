#!/usr/bin/env node
// `npm start`: installs what is missing, starts the local infrastructure that is not running
// (PostgreSQL, Redis, NATS JetStream, the S3 server), builds and starts the services, then plays
// the seed's story step by step. Services keep running until Ctrl-C; `npm start -- --once`
// stops them after the story.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { join } from 'node:path';
import { accessStory } from './story-access.mjs';
import { omlStory } from './story-oml.mjs';

const require = createRequire(import.meta.url);

const root = new URL('..', import.meta.url).pathname;
const local = join(root, '.local');
const once = process.argv.includes('--once') || process.env.CLOPEN_START_ONCE === '1';
const children = [];
const say = (msg) => console.log(`\x1b[1m${msg}\x1b[0m`);
const info = (msg) => console.log(`   ${msg}`);

const S3_PORT = Number(process.env.CLOPEN_S3_PORT ?? 9000);
const BUCKET = 'clopen-artefacts';
const SERVICES = [
  { name: 'storage', port: Number(process.env.CLOPEN_STORAGE_PORT ?? 3001) },
  { name: 'distribution', port: Number(process.env.CLOPEN_DISTRIBUTION_PORT ?? 3002) },
  { name: 'embedder', port: Number(process.env.CLOPEN_EMBEDDER_PORT ?? 3003) },
  { name: 'access', port: Number(process.env.CLOPEN_ACCESS_PORT ?? 3004) },
];
const serviceUrl = (name) => `http://127.0.0.1:${SERVICES.find((s) => s.name === name).port}`;

function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

async function waitFor(what, probe, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not come up within ${timeoutMs / 1000} s; see .local/logs/`);
}

function background(name, args, env = {}) {
  mkdirSync(join(local, 'logs'), { recursive: true });
  const log = openSync(join(local, 'logs', `${name}.log`), 'a');
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', log, log] });
  children.push(child);
  child.on('exit', (code) => code && !stopping && console.error(`${name} exited with ${code}; see .local/logs/${name}.log`));
  return child;
}

let stopping = false;
function stopAll() {
  stopping = true;
  for (const c of children) c.kill('SIGTERM');
}
process.on('SIGINT', () => (stopAll(), process.exit(0)));
process.on('SIGTERM', () => (stopAll(), process.exit(0)));

async function infrastructure() {
  say('1. Local infrastructure');
  if (!existsSync(join(root, 'node_modules/.package-lock.json'))) {
    info('installing dependencies (npm ci)');
    execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit', env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' } });
  }
  execFileSync('bash', [join(root, 'scripts/ensure-packages.sh')], { stdio: 'inherit' });
  execFileSync('bash', [join(root, 'scripts/ensure-services.sh')], { stdio: 'inherit' });
  info('building libs and services (nx run-many -t build)');
  execFileSync('npx', ['nx', 'run-many', '-t', 'build', '--outputStyle=static'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, NX_DAEMON: 'false', NX_TUI: 'false' } });

  if (await portOpen(S3_PORT)) info(`S3 server already running on :${S3_PORT}`);
  else {
    background('s3rver', ['tools/s3rver.mjs', '--port', String(S3_PORT), '--dir', join(local, 's3'), '--bucket', BUCKET]);
    await waitFor('the S3 server', () => portOpen(S3_PORT));
    info(`S3 server (s3rver) started on http://127.0.0.1:${S3_PORT}, data in .local/s3`);
  }

  const { Client } = require('pg');
  const pg = new Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
  await pg.connect();
  const { rowCount } = await pg.query("SELECT 1 FROM pg_database WHERE datname = 'clopen'");
  if (!rowCount) await pg.query('CREATE DATABASE clopen');
  await pg.end();
  info('PostgreSQL database "clopen" ready (one schema per service)');
}

/** A local secret, made once and kept in .local (mode 0600). */
function localSecret(name, make) {
  const file = join(local, name);
  mkdirSync(local, { recursive: true });
  if (!existsSync(file)) writeFileSync(file, `${make()}\n`, { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}
const adminKey = () => localSecret('admin-api-key', () => `clp_admin_${randomBytes(24).toString('base64url')}`);
const keyRing = (name, id) => localSecret(name, () => `${id}:${randomBytes(32).toString('base64')}`);

async function services(admin) {
  say('2. Services');
  const shared = {
    NODE_ENV: 'development',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
    ADMIN_API_KEY: admin,
    DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/clopen',
    NATS_URL: 'nats://127.0.0.1:4222',
    REDIS_URL: 'redis://127.0.0.1:6379',
  };
  // Job secrets are sealed under a key ring distribution and the embedders share; pools at rest under distribution's own.
  const jobKeys = keyRing('embedding-job-keys', 'job1');
  const own = {
    storage: { S3_ENDPOINT: `http://127.0.0.1:${S3_PORT}`, S3_ACCESS_KEY: 'S3RVER', S3_SECRET_KEY: 'S3RVER', S3_BUCKET: BUCKET },
    distribution: { STORAGE_URL: serviceUrl('storage'), STORAGE_API_KEY: admin, EMBEDDING_JOB_KEYS: jobKeys, DISTRIBUTION_POOL_KEYS: keyRing('distribution-pool-keys', 'pool1') },
    embedder: { STORAGE_URL: serviceUrl('storage'), STORAGE_API_KEY: admin, EMBEDDING_JOB_KEYS: jobKeys },
    access: { ACCESS_ISSUER_KEYS: localSecret('access-issuer-keys', () => `issuer1:${randomBytes(32).toString('base64')}`) },
  };
  for (const svc of SERVICES) {
    const base = serviceUrl(svc.name);
    if (!(await portOpen(svc.port))) background(svc.name, [`services/${svc.name}/dist/main.js`], { ...shared, ...own[svc.name], HTTP_PORT: String(svc.port) });
    await waitFor(svc.name, async () => (await fetch(`${base}/ready`)).status === 200);
    info(`${svc.name.padEnd(12)} ${base}  docs ${base}/docs  ready ${base}/ready  metrics ${base}/metrics`);
  }
  info(`admin API key in .local/admin-api-key; logs in .local/logs/`);
}

/** Bob's host gateway (services/host-gateway), a process like the services; its URL once ready. */
async function startGateway(env) {
  const port = Number(process.env.CLOPEN_GATEWAY_PORT ?? 3005);
  const base = `http://127.0.0.1:${port}`;
  if (!(await portOpen(port))) {
    const shared = { NODE_ENV: 'development', LOG_LEVEL: process.env.LOG_LEVEL ?? 'info', ADMIN_API_KEY: adminKey(), NATS_URL: 'nats://127.0.0.1:4222' };
    background('host-gateway', ['services/host-gateway/dist/main.js'], { ...shared, ...env, HTTP_PORT: String(port) });
  }
  await waitFor('host-gateway', async () => (await fetch(`${base}/ready`)).status === 200, 120_000);
  return base;
}

async function call(base, key, method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json().catch(() => ({}));
  return { status: res.status, body: json };
}

/** Alice's model folder: the built-in base model (trained once on WordNet glosses, then cached). */
async function aliceFolder() {
  const { ensureBaseModel } = require('@clopen/fingerprint');
  const { dir, trained, result } = await ensureBaseModel(process.env.CLOPEN_BASE_MODEL ?? 'base-v1', {
    onProgress: (p) => p.phase === 'train' && p.percent % 10 < 0.2 && info(`   training the base model: ${p.percent.toFixed(0)}% (first run only)`),
  });
  info(`Alice's base model: ${result.parameters} parameters, held-out perplexity ${result.heldout_perplexity.toFixed(1)} on WordNet glosses${trained ? '' : ' (cached)'}`);
  return { dir, files: ['config.json', 'model.safetensors', 'tokenizer.json'].map((path) => ({ path, data: readFileSync(join(dir, path)) })) };
}

async function story(admin) {
  const storage = serviceUrl('storage');
  say('3. The story');
  const alice = await call(storage, admin, 'POST', '/api-keys', { principalId: 'alice', roles: ['owner'], label: 'npm start' });
  info(`Alice (model owner) gets an API key ${alice.body.key.slice(0, 10)}…`);

  let model = await call(storage, alice.body.key, 'POST', '/models', { name: 'alice-gpt', description: 'Alice\'s small base model' });
  if (model.status === 409) model = { body: (await call(storage, admin, 'GET', '/models?ownerId=alice')).body.find((m) => m.name === 'alice-gpt') };
  info(`Alice registers model alice-gpt: ${model.body.id} (event storage.model.registered)`);

  const { files } = await aliceFolder();
  const label = '1.0.0';
  const metadata = { label, kind: 'base', parents: [], licence: { fee_per_1k_tokens: '0.002', hosts_must_stake: '100' }, files: files.map((f) => ({ path: f.path, size: f.data.length, sha256: createHash('sha256').update(f.data).digest('hex') })) };
  const form = new FormData();
  form.append('metadata', JSON.stringify(metadata));
  for (const f of files) form.append('file', new Blob([f.data]), f.path);
  const res = await fetch(`${storage}/models/${model.body.id}/versions`, { method: 'POST', headers: { authorization: `Bearer ${alice.body.key}` }, body: form });
  let version = await res.json();
  if (res.status === 409) {
    version = (await call(storage, alice.body.key, 'GET', `/models/${model.body.id}/versions`)).body.find((v) => v.label === label);
    info(`Alice published version ${label} on an earlier run (versions are immutable): ${version.id}`);
  } else if (res.status !== 201) {
    throw new Error(`publishing failed: ${res.status} ${JSON.stringify(version)}`);
  } else {
    info(`Alice publishes version ${label}: ${version.files.length} files, ${version.weights.parameterCount} parameters, manifest ${version.manifestSha256.slice(0, 16)}…`);
  }

  const { Bus, decodeEnvelope } = require('@clopen/bus');
  const bus = await Bus.connect({ servers: 'nats://127.0.0.1:4222', producer: 'npm-start' });
  try {
    let last;
    for (let i = 0; i < 50 && !last; i++) {
      last = await bus.jsm.streams.getMessage('STORAGE', { last_by_subj: 'storage.version.published' }).catch(() => undefined);
      if (!last) await new Promise((r) => setTimeout(r, 100));
    }
    if (!last) throw new Error('storage.version.published never reached JetStream; see .local/logs/storage.log');
    const { envelope, payload } = decodeEnvelope(last.data, 'storage.version.published');
    info(`JetStream holds storage.version.published for ${payload.version.label} (event ${envelope.id}, producer ${envelope.producer})`);
    const viaBus = await bus.request('storage.version.get', { id: version.id });
    info(`storage.version.get over NATS answers: ${viaBus.version.files.length} files, manifest ${viaBus.version.manifestSha256.slice(0, 16)}…`);
  } finally {
    await bus.close();
  }
  const url = await call(storage, alice.body.key, 'GET', `/versions/${version.id}/files/model.safetensors/url`);
  const bytes = Buffer.from(await (await fetch(url.body.url)).arrayBuffer());
  info(`Alice downloads model.safetensors by presigned URL: sha256 ${createHash('sha256').update(bytes).digest('hex') === url.body.sha256 ? 'matches' : 'DIFFERS'}`);

  const oml = await omlStory({ root, info, call, admin, distribution: serviceUrl('distribution'), baseVersion: version, children });
  await accessStory({ root, info, call, admin, access: serviceUrl('access'), distribution: serviceUrl('distribution'), modelId: model.body.id, oml, startGateway });

  const pending = [
    'Bob and Charlie stake collateral on chain, which licenses them instead of an admin (issue #7)',
    "epoch roots are posted on chain; the proven violation is settled: Charlie's collateral is slashed after the appeal window, the prover is paid, Alice claims her fees (issue #7)",
  ];
  for (const p of pending) info(`… not built yet: ${p}`);
}

try {
  await infrastructure();
  const admin = adminKey();
  await services(admin);
  await story(admin);
} catch (e) {
  console.error(`npm start failed: ${e instanceof Error ? e.message : e}`);
  stopAll();
  process.exit(1);
}
if (once) {
  stopAll();
  process.exit(0);
}
say('Services are running; press Ctrl-C to stop the ones this command started.');
