// The OML part of the seed's story: Alice's base model gets a fingerprint pool; Bob and Charlie
// each get a copy holding a different subset; Charlie's copy turns up on Eve's unlicensed host; a
// prover asks Eve's host pool keys through its completions API and the answers trace Charlie.
// Uses the built libs (@clopen/fingerprint, @clopen/tracing); engine work is cached in .local/story.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);

export async function omlStory({ root, info, storage, aliceKey, model, baseVersion, baseDir, children }) {
  const { runEngineJob, enginePythonPath } = require('@clopen/fingerprint');
  const tracing = require('@clopen/tracing');
  const dir = join(root, '.local/story');
  mkdirSync(dir, { recursive: true });
  const progress = (what) => ({ onProgress: (p) => p.percent % 25 < 1 && info(`   ${what}: ${p.phase} ${p.percent.toFixed(0)}%`) });

  // The pool: perinucleus responses to English-like keys sampled from Alice's model.
  const POOL = 192;
  const poolFile = join(dir, 'pool.json');
  if (!existsSync(poolFile)) await runEngineJob({ job: 'generate', model: baseDir, count: POOL, key_strategy: 'english', key_length: 12, seed: 2026, out: poolFile }, progress('pool'));
  const pool = JSON.parse(readFileSync(poolFile, 'utf8'));
  info(`Alice's fingerprint pool: ${pool.length} key/response pairs (perinucleus responses, t=0.8, k=3), sha256 ${createHash('sha256').update(readFileSync(poolFile)).digest('hex').slice(0, 16)}…`);

  // Assignments: each host's copy holds each pool entry independently with probability p.
  const plan = tracing.planAssignment({ hosts: 64, coalition: 1, falseAccusation: 1e-6, recall: 0.9, nullRate: 1e-3 });
  const seedFile = join(dir, 'assignment-seed');
  if (!existsSync(seedFile)) writeFileSync(seedFile, randomBytes(32).toString('hex'), { mode: 0o600 });
  const seed = Buffer.from(readFileSync(seedFile, 'utf8'), 'hex');
  const hosts = ['bob', 'charlie'];
  const assignments = new Map(hosts.map((h) => [h, tracing.assignSubset(seed, h, pool.length, plan.p)]));
  for (const h of hosts) info(`${h[0].toUpperCase() + h.slice(1)} is licensed: his copy will hold ${assignments.get(h).length} of ${pool.length} fingerprints (inclusion p=${plan.p.toFixed(2)})`);

  const copies = {};
  for (const h of hosts) {
    const out = join(dir, `copy-${h}`);
    const fpsFile = join(dir, `fps-${h}.json`);
    writeFileSync(fpsFile, JSON.stringify(Array.from(assignments.get(h), (i) => pool[i])));
    if (!existsSync(join(out, 'model.safetensors'))) {
      const r = await runEngineJob({ job: 'embed', base: baseDir, fingerprints: fpsFile, out, seed: 7, batch_size: 64, check_every: 50, min_recall: 0.99 }, progress(`embedding ${h}'s copy`));
      info(`embedded ${r.embedded}/${r.count} fingerprints into ${h}'s copy in ${r.steps} steps; held-out loss ${(100 * r.heldout_loss_increase).toFixed(2)}% vs the base`);
    }
    copies[h] = out;
    const version = await publishCopy({ storage, aliceKey, model, baseVersion, folder: out, label: `oml-${h}` });
    info(`${h}'s OML copy is stored as version ${version.label} (${version.id}), parent ${baseVersion.label}`);
  }

  // Eve serves Charlie's copy without a licence.
  const port = 8000 + Math.floor(Math.random() * 500) + 100;
  const eve = spawn(enginePythonPath(), ['-m', 'clopen_fp.serve', '--model', copies.charlie, '--port', String(port)], {
    cwd: join(root, 'libs/fingerprint/python'),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(eve);
  await new Promise((resolve, reject) => {
    eve.stdout.once('data', resolve);
    eve.once('exit', (c) => reject(new Error(`Eve's host exited with ${c}`)));
  });
  const eveUrl = `http://127.0.0.1:${port}`;
  info(`Eve serves a model at ${eveUrl}/v1/completions with no licence`);

  // A prover asks Eve's host keys from the pool, as an end user would.
  const asked = pool.map((_, i) => i);
  const verdict = await runEngineJob({ job: 'verify', fingerprints: poolFile, target: { type: 'openai', url: eveUrl, model: 'eve' }, null_models: [baseDir], alpha: 1e-6 });
  info(`the prover asked ${verdict.asked} pool keys; Eve's host answered ${verdict.matched} with the secret response (null rate ${verdict.null_rate.toExponential(1)}, p-value ${verdict.p_value.toExponential(2)}): fingerprinted = ${verdict.fingerprinted}`);
  const traced = tracing.traceHosts({ asked, answered: verdict.matches, assignments, p: plan.p, recall: 0.9, nullRate: 1e-3, falseAccusation: 1e-6, hosts: hosts.length });
  for (const t of traced.hosts ?? traced) {
    info(`tracing: ${t.hostId} holds ${t.answeredHeld}/${t.answered} of the answered keys, p-value ${Number(t.pValue).toExponential(2)} → ${t.accused ? 'ACCUSED' : 'not accused'}`);
  }
  eve.kill('SIGTERM');
}

async function publishCopy({ storage, aliceKey, model, baseVersion, folder, label }) {
  const names = ['config.json', 'model.safetensors', 'tokenizer.json'];
  const files = names.map((n) => ({ path: n, data: readFileSync(join(folder, n)) }));
  const metadata = { label, kind: 'oml', parents: [baseVersion.id], licence: baseVersion.licence, files: files.map((f) => ({ path: f.path, size: f.data.length, sha256: createHash('sha256').update(f.data).digest('hex') })) };
  const form = new FormData();
  form.append('metadata', JSON.stringify(metadata));
  for (const f of files) form.append('file', new Blob([f.data]), f.path);
  const res = await fetch(`${storage}/models/${model.id}/versions`, { method: 'POST', headers: { authorization: `Bearer ${aliceKey}` }, body: form });
  if (res.status === 409) {
    const all = await (await fetch(`${storage}/models/${model.id}/versions`, { headers: { authorization: `Bearer ${aliceKey}` } })).json();
    return all.find((v) => v.label === label);
  }
  const body = await res.json();
  if (res.status !== 201) throw new Error(`storing ${label} failed: ${res.status} ${JSON.stringify(body)}`);
  return body;
}
