#!/usr/bin/env node
// `npm start`: installs what is missing, starts the local infrastructure that is not running
// (PostgreSQL, Redis, NATS JetStream, the S3 server), builds and starts the services, then plays
// the seed's story step by step. Services keep running until Ctrl-C; `npm start -- --exit`
// plays the story and exits: 0 when every step succeeded, 1 naming the step that failed.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { join } from 'node:path';
import { accessStory, closeEpoch } from './story-access.mjs';
import { chainStory, localChain } from './story-chain.mjs';
import { hostAccounts, omlStory } from './story-oml.mjs';

const require = createRequire(import.meta.url);

const root = new URL('..', import.meta.url).pathname;
const local = join(root, '.local');
const once = process.argv.includes('--exit') || process.argv.includes('--once') || process.env.CLOPEN_START_ONCE === '1';
const children = [];
/** The step being played, named when one fails; and what each step produced, for the summary. */
let current = 'starting';
const summary = [];
const say = (msg) => {
  current = msg.replace(/^\d+\.\s*/, '');
  console.log(`\x1b[1m${msg}\x1b[0m`);
};
const done = (what, detail) => summary.push({ what, detail });
const step = (name) => {
  current = name;
  console.log(`\x1b[1m • ${name}\x1b[0m`);
};
const info = (msg) => console.log(`   ${msg}`);

const S3_PORT = Number(process.env.CLOPEN_S3_PORT ?? 9000);
const BUCKET = 'clopen-artefacts';
const SERVICES = [
  { name: 'storage', port: Number(process.env.CLOPEN_STORAGE_PORT ?? 3001) },
  { name: 'distribution', port: Number(process.env.CLOPEN_DISTRIBUTION_PORT ?? 3002) },
  { name: 'embedder', port: Number(process.env.CLOPEN_EMBEDDER_PORT ?? 3003) },
  { name: 'access', port: Number(process.env.CLOPEN_ACCESS_PORT ?? 3004) },
  { name: 'incentives', port: Number(process.env.CLOPEN_INCENTIVES_PORT ?? 3006) },
  { name: 'chain-indexer', port: Number(process.env.CLOPEN_CHAIN_INDEXER_PORT ?? 3007) },
];
const CHAIN_PORT = Number(process.env.CLOPEN_CHAIN_PORT ?? 8545);
let chain;
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
  execFileSync('npx', ['nx', 'run-many', '-t', 'build', '--outputStyle=static'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, NX_DAEMON: 'false', NX_TUI: 'false' },
  });

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

  // A new chain voids what was derived from the old one: the indexer's checkpoint, incentives' records
  // and its place in the streams, and the chain.* events of the old chain.
  const resetChainState = async () => {
    const db = new Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/clopen' });
    await db.connect();
    for (const schema of ['chain_indexer', 'incentives']) await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await db.end();
    const { connect } = require('nats');
    const nc = await connect({ servers: 'nats://127.0.0.1:4222' });
    const jsm = await nc.jetstreamManager();
    for await (const stream of jsm.streams.list()) {
      if (stream.config.name === 'CHAIN') await jsm.streams.purge('CHAIN');
      for await (const c of jsm.consumers.list(stream.config.name))
        if (c.name.startsWith('incentives__')) await jsm.consumers.delete(stream.config.name, c.name);
    }
    await nc.close();
  };
  chain = await localChain({ root, local, port: CHAIN_PORT, background, portOpen, waitFor, info, resetChainState });
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
    distribution: {
      STORAGE_URL: serviceUrl('storage'),
      STORAGE_API_KEY: admin,
      EMBEDDING_JOB_KEYS: jobKeys,
      DISTRIBUTION_POOL_KEYS: keyRing('distribution-pool-keys', 'pool1'),
    },
    embedder: { STORAGE_URL: serviceUrl('storage'), STORAGE_API_KEY: admin, EMBEDDING_JOB_KEYS: jobKeys },
    access: { ACCESS_ISSUER_KEYS: localSecret('access-issuer-keys', () => `issuer1:${randomBytes(32).toString('base64')}`) },
    incentives: {
      CHAIN_RPC_URL: chain.url,
      CHAIN_CONTRACTS: chain.contractsEnv,
      CHAIN_CONFIRMATIONS: '0',
      INCENTIVES_PROTOCOL_KEY: chain.protocolKey,
      INCENTIVES_TICK_MS: '1000',
      TX_BUMP_AFTER_SECONDS: '20',
    },
    'chain-indexer': {
      CHAIN_RPC_URL: chain.url,
      CHAIN_CONTRACTS: chain.contractsEnv,
      CHAIN_CONFIRMATIONS: '0',
      CHAIN_START_BLOCK: String(chain.startBlock),
      CHAIN_POLL_MS: '500',
    },
  };
  for (const svc of SERVICES) {
    const base = serviceUrl(svc.name);
    if (!(await portOpen(svc.port))) background(svc.name, [`services/${svc.name}/dist/main.js`], { ...shared, ...own[svc.name], HTTP_PORT: String(svc.port) });
    await waitFor(svc.name, async () => (await fetch(`${base}/ready`)).status === 200);
    info(`${svc.name.padEnd(12)} ${base}  docs ${base}/docs  ready ${base}/ready  metrics ${base}/metrics`);
  }
  info(`admin API key in .local/admin-api-key; logs in .local/logs/`);
}

const GATEWAY_PORTS = { bob: Number(process.env.CLOPEN_GATEWAY_PORT ?? 3005), charlie: Number(process.env.CLOPEN_CHARLIE_GATEWAY_PORT ?? 3008) };

/** A host's gateway (services/host-gateway), a process like the services; its URL once ready. */
async function startGateway(host, env) {
  const port = GATEWAY_PORTS[host];
  const base = `http://127.0.0.1:${port}`;
  if (!(await portOpen(port))) {
    const shared = { NODE_ENV: 'development', LOG_LEVEL: process.env.LOG_LEVEL ?? 'info', ADMIN_API_KEY: adminKey(), NATS_URL: 'nats://127.0.0.1:4222' };
    background(`host-gateway-${host}`, ['services/host-gateway/dist/main.js'], { ...shared, ...env, HTTP_PORT: String(port) });
  }
  await waitFor(`${host}'s host-gateway`, async () => (await fetch(`${base}/ready`)).status === 200, 120_000);
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
  const { ensureBaseModel, DEFAULT_BASE_MODEL } = require('@clopen/fingerprint');
  const { dir, trained, result } = await ensureBaseModel(process.env.CLOPEN_BASE_MODEL ?? DEFAULT_BASE_MODEL, {
    onProgress: (p) => p.phase === 'train' && p.percent % 10 < 0.2 && info(`   training the base model: ${p.percent.toFixed(0)}% (first run only)`),
  });
  info(
    `Alice's base model: ${result.parameters} parameters, held-out perplexity ${result.heldout_perplexity.toFixed(1)} on WordNet glosses${trained ? '' : ' (cached)'}`,
  );
  return { dir, files: ['config.json', 'model.safetensors', 'tokenizer.json'].map((path) => ({ path, data: readFileSync(join(dir, path)) })) };
}

async function story(admin) {
  const storage = serviceUrl('storage');
  say('3. The story');
  const alice = await call(storage, admin, 'POST', '/api-keys', { principalId: 'alice', roles: ['owner'], label: 'npm start' });
  info(`Alice (model owner) gets an API key ${alice.body.key.slice(0, 10)}…`);

  let model = await call(storage, alice.body.key, 'POST', '/models', { name: 'alice-gpt', description: "Alice's small base model" });
  if (model.status === 409) model = { body: (await call(storage, admin, 'GET', '/models?ownerId=alice')).body.find((m) => m.name === 'alice-gpt') };
  info(`Alice registers model alice-gpt: ${model.body.id} (event storage.model.registered)`);

  const { files } = await aliceFolder();
  const label = '1.0.0';
  const metadata = {
    label,
    kind: 'base',
    parents: [],
    licence: { fee_per_1k_tokens: '0.002', hosts_must_stake: '100' },
    files: files.map((f) => ({ path: f.path, size: f.data.length, sha256: createHash('sha256').update(f.data).digest('hex') })),
  };
  const form = new FormData();
  form.append('metadata', JSON.stringify(metadata));
  for (const f of files) form.append('file', new Blob([f.data]), f.path);
  const res = await fetch(`${storage}/models/${model.body.id}/versions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${alice.body.key}` },
    body: form,
  });
  let version = await res.json();
  if (res.status === 409) {
    version = (await call(storage, alice.body.key, 'GET', `/models/${model.body.id}/versions`)).body.find((v) => v.label === label);
    info(`Alice published version ${label} on an earlier run (versions are immutable): ${version.id}`);
  } else if (res.status !== 201) {
    throw new Error(`publishing failed: ${res.status} ${JSON.stringify(version)}`);
  } else {
    info(
      `Alice publishes version ${label}: ${version.files.length} files, ${version.weights.parameterCount} parameters, manifest ${version.manifestSha256.slice(0, 16)}…`,
    );
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
  info(
    `Alice downloads model.safetensors by presigned URL: sha256 ${createHash('sha256').update(bytes).digest('hex') === url.body.sha256 ? 'matches' : 'DIFFERS'}`,
  );

  done('Alice registers her model', `model ${model.body.id}, version ${version.id}, manifest ${version.manifestSha256.slice(0, 16)}…`);

  const onChain = chainStory({ chain, info, local });
  const incentives = serviceUrl('incentives');
  step('Alice mints the model NFT');
  const nft = await onChain.mintModel(version, metadata.licence);
  done('Alice mints the model NFT', `#${nft.chainModelId}${nft.publishTx ? ` tx ${nft.publishTx.slice(0, 12)}…` : ' (earlier run)'}`);
  await until(
    async () => (await call(incentives, admin, 'GET', '/models')).body.some?.((l) => l.versionId === version.id && l.chainModelId === String(nft.chainModelId)),
    'incentives to link the version to its NFT',
  );
  info(
    `incentives links version ${version.id.slice(0, 8)}… to NFT #${nft.chainModelId}: the same hash arrived from storage (storage.version.published) and from the chain (chain.registry.version_published, via the indexer)`,
  );

  step('Bob and Charlie stake collateral');
  const { hosts } = hostAccounts(root);
  for (const [n, account] of Object.entries(hosts)) {
    const staked = await onChain.stake(n === 'bob' ? 'Bob' : 'Charlie', account, nft.chainModelId);
    done(`${n === 'bob' ? 'Bob' : 'Charlie'} stakes collateral`, staked.stakeTx ? `tx ${staked.stakeTx.slice(0, 12)}…` : 'staked on an earlier run');
  }

  step("Bob and Charlie receive their own fingerprinted copies; Charlie's copy turns up on Eve's host");
  const oml = await omlStory({ root, info, call, admin, distribution: serviceUrl('distribution'), baseVersion: version, children });
  done(
    'fingerprinted copies',
    Object.entries(oml.licences)
      .map(([n, id]) => `${n} licence ${id.slice(0, 8)}…`)
      .join(', '),
  );

  step("Dave pays fees and chats with Bob's host; a prover catches Eve");
  const fees = await onChain.depositFees(nft.chainModelId);
  done('Dave deposits fees', `tx ${fees.depositTx.slice(0, 12)}…`);
  const acc = await accessStory({
    root,
    info,
    call,
    admin,
    access: serviceUrl('access'),
    distribution: serviceUrl('distribution'),
    modelId: model.body.id,
    oml,
    startGateway,
  });
  done("Dave chats with Bob's host", `grant ${acc.grantId.slice(0, 8)}…`);
  if (acc.violation) done('the prover proves the violation', `${acc.violation.kind}, evidence ${acc.violation.evidenceSha256.slice(0, 12)}…`);

  step("Charlie's collateral is slashed after the appeal window; the prover is paid");
  const charlie = hosts.charlie.address;
  const proverBefore = await onChain.balanceOf(acc.prover);
  let announced = false;
  const slash = await until(
    async () => {
      const all = (await call(incentives, admin, 'GET', `/slashes?host=${charlie}`)).body;
      const s = acc.violation ? all.find((x) => x.violationId === acc.violation.id) : all.find((x) => x.status === 'executed');
      if (!s) return acc.violation ? false : { none: true };
      if (['failed', 'skipped'].includes(s.status)) throw new Error(`slash ${s.id}: ${s.status} (${s.note})`);
      if (s.status === 'proposed' && !announced && (announced = true))
        info(
          `incentives proposes slash #${s.chainSlashId} of ${onChain.tokens(s.amount)} on Charlie (evidence ${s.evidenceHash.slice(0, 12)}…); the appeal window closes at ${new Date(s.appealDeadline).toISOString().slice(11, 19)} UTC`,
        );
      return s.status === 'executed' && s;
    },
    'the slash to execute',
    180_000,
  );
  if (slash.none) info('no new violation this run, and no executed slash of an earlier run');
  else {
    const txs = (await call(incentives, admin, 'GET', '/transactions?status=confirmed&limit=1000')).body.filter((t) => t.purpose.includes(slash.id));
    for (const t of txs.reverse()) info(`protocol transaction ${t.functionName} (${t.purpose.split(':')[0]}): ${t.minedHash} in block ${t.blockNumber}`);
    const paid = (await onChain.balanceOf(acc.prover)) - proverBefore;
    info(
      `slash #${slash.chainSlashId} executed: the prover ${acc.prover} receives ${onChain.tokens(slash.proverBounty)} (balance +${onChain.tokens(paid)}), Alice as the model's owner ${onChain.tokens(slash.ownerShare)}; Charlie's stake is now ${onChain.tokens((await onChain.stakeOf(charlie, nft.chainModelId)).active)}`,
    );
    const licence = await until(
      async () => {
        const l = (await call(serviceUrl('distribution'), admin, 'GET', `/licences/${oml.licences.charlie}`)).body;
        return l.status === 'ended' && l;
      },
      "Charlie's licence to end",
      60_000,
    );
    info(`distribution ends Charlie's licence ${licence.id.slice(0, 8)}…: ${licence.endedReason} (event distribution.licence.ended)`);
    done('Charlie is slashed, the prover paid', `slash #${slash.chainSlashId}: ${onChain.tokens(slash.amount)}, bounty ${onChain.tokens(slash.proverBounty)}`);
  }

  step('The epoch closes with its usage root on chain');
  const epoch = await closeEpoch({ info, call, admin, access: serviceUrl('access'), grantId: acc.grantId });
  if (epoch) {
    const settled = await until(
      async () => {
        const e = (await call(incentives, admin, 'GET', `/epochs/${epoch.number}`)).body;
        if (e.usageStatus === 'failed' || e.allocationStatus === 'failed') throw new Error(`epoch ${epoch.number}: ${e.error}`);
        return e.usageStatus === 'committed' && ['posted', 'nothing'].includes(e.allocationStatus) && e;
      },
      'the epoch to settle on chain',
      120_000,
    );
    const root = (await call(incentives, admin, 'GET', `/transactions/usage-root:${epoch.number}`)).body;
    info(
      `incentives commits epoch ${epoch.number}'s usage root to UsageLedger (tx ${root.minedHash}); allocation of ${onChain.tokens(settled.allocationTotal ?? 0)} over ${settled.allocation.length} accounts: ${settled.allocation.map((a) => `${a.parts.map((p) => p.role).join('+')} ${onChain.tokens(a.amount)}`).join(', ')}`,
    );
    done('the epoch settles on chain', `epoch ${epoch.number}, root tx ${root.minedHash.slice(0, 12)}…`);
  }

  step('Alice claims her fees');
  const claims = (await call(incentives, admin, 'GET', `/claims/${onChain.alice.address}`)).body;
  const before = await onChain.balanceOf(onChain.alice.address);
  const claimTxs = await onChain.claim(claims);
  const gained = (await onChain.balanceOf(onChain.alice.address)) - before;
  if (!claimTxs.length) info('nothing left to claim (claimed on an earlier run)');
  done('Alice claims her fees', claimTxs.length ? `${onChain.tokens(gained)} in ${claimTxs.length} claim(s), tx ${claimTxs[0].slice(0, 12)}…` : 'nothing new');
}

async function until(probe, what, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch((e) => {
      if (e instanceof Error && !/fetch failed/.test(e.message)) throw e;
      return false;
    });
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; see .local/logs/`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

function printSummary() {
  say('4. Summary');
  const width = Math.max(...summary.map((r) => r.what.length));
  for (const r of summary) console.log(`   ${r.what.padEnd(width)}  ${r.detail}`);
  console.log('');
  for (const svc of SERVICES) console.log(`   ${svc.name.padEnd(15)} ${serviceUrl(svc.name)}  (docs ${serviceUrl(svc.name)}/docs)`);
  for (const [host, port] of Object.entries(GATEWAY_PORTS)) console.log(`   ${`gateway ${host}`.padEnd(15)} http://127.0.0.1:${port}/v1`);
  console.log(`   ${'chain'.padEnd(15)} ${chain.url} (hardhat node, chain id 31337)`);
  console.log(`   admin API key: .local/admin-api-key · logs: .local/logs/`);
}

try {
  await infrastructure();
  const admin = adminKey();
  await services(admin);
  await story(admin);
  printSummary();
} catch (e) {
  console.error(`\nnpm start failed at step "${current}": ${e instanceof Error ? e.message : e}`);
  stopAll();
  process.exit(1);
}
if (once) {
  stopAll();
  process.exit(0);
}
say('Services are running; press Ctrl-C to stop the ones this command started.');
