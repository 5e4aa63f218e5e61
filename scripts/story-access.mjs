// Dave's and the prover's part of the story, through the services: Bob starts his host gateway
// (it fetches his copy from distribution and registers his serving key with access); Dave buys a
// grant and calls Bob's gateway with a permission string per request; Bob's answers come back
// signed, his receipts are counted and committed by an epoch's Merkle root that Dave can check;
// a registered prover challenges Eve's server and proves that Charlie's copy is served there.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);

export async function accessStory({ root, info, call, admin, access, distribution, modelId, oml, startGateway }) {
  const {
    PERMISSION_HEADER,
    generateUserKey,
    permissionString,
    privateKeyFromSeed,
    rawPublicKey,
    receiptSigningBytes,
    userPublicKeyBytes,
    verifyEd25519,
  } = require('@clopen/host-sdk');
  const { HOST_AUTH_HEADER, signHostRequest } = require('@clopen/host-auth');
  const { accessV1, fromBinary } = require('@clopen/proto');
  const { generatePrivateKey, privateKeyToAccount } = require('viem/accounts');
  const dir = join(root, '.local/story');
  const secret = (name, make) => {
    const file = join(dir, name);
    if (!existsSync(file)) writeFileSync(file, make(), { mode: 0o600 });
    return readFileSync(file, 'utf8').trim();
  };

  // Each host's gateway: his copy (with its ONNX graph) behind permission strings.
  const gateways = {};
  const servingSeeds = {};
  for (const n of ['bob', 'charlie']) {
    servingSeeds[n] = Buffer.from(
      secret(`${n}-serving-seed`, () => randomBytes(32).toString('base64')),
      'base64',
    );
    gateways[n] = await startGateway(n, {
      GATEWAY_HOST_KEY: oml.keys[n],
      GATEWAY_SERVING_KEY: `${n}1:${servingSeeds[n].toString('base64')}`,
      GATEWAY_MODEL_ID: modelId,
      GATEWAY_MODEL_DIR: join(dir, `gateway-${n}`),
      GATEWAY_LICENCE_ID: oml.licences[n],
      DISTRIBUTION_URL: distribution,
      ACCESS_URL: access,
      GATEWAY_SPOOL_DIR: join(dir, `gateway-${n}-spool`),
      GATEWAY_THREADS: '1',
    });
    info(
      `${n === 'bob' ? 'Bob' : 'Charlie'} starts his host gateway at ${gateways[n]}/v1: it fetched his own copy from distribution (safetensors and model.onnx), registered serving key "${n}1" with access, follows revocations on JetStream`,
    );
  }
  const gateway = gateways.bob;
  const servingSeed = servingSeeds.bob;
  const bob = oml.hosts.bob.address;

  const daveKey = (await call(access, admin, 'POST', '/api-keys', { principalId: 'dave', roles: ['user'], label: 'npm start' })).body.key;
  const dave = generateUserKey();
  const bought = await call(access, daveKey, 'POST', '/grants', {
    modelId,
    userPublicKey: userPublicKeyBytes(dave).toString('base64url'),
    quota: { requests: 1000 },
    days: 30,
  });
  if (bought.status !== 201) throw new Error(`grant: ${bought.status} ${JSON.stringify(bought.body)}`);
  const grant = bought.body;
  info(
    `Dave buys access to alice-gpt: grant ${grant.id.slice(0, 8)}… for 1000 requests, bound to his own ed25519 key, signed by issuer key ${grant.issuerKeyId} (event access.grant.issued)`,
  );

  const signed = { bytes: Buffer.from(grant.grant, 'base64url'), issuerSignature: Buffer.from(grant.issuerSignature, 'base64url') };
  let counter = 0;
  const ask = async (path, body, { host = bob, header } = {}) => {
    const raw = JSON.stringify(body);
    const h = header ?? permissionString(signed, dave, ++counter, { host, model: modelId, body: raw });
    const res = await fetch(`${gateway}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', [PERMISSION_HEADER]: h }, body: raw });
    return { res, text: await res.text(), header: h };
  };
  const first = await ask('/v1/completions', { prompt: 'a closed-open model is', max_tokens: 16 });
  if (first.res.status !== 200) throw new Error(`Bob's gateway: ${first.res.status} ${first.text}`);
  const receipt = fromBinary(accessV1.UsageReceiptSchema, Buffer.from(first.res.headers.get('x-clopen-receipt'), 'base64url'));
  const genuine = verifyEd25519(receipt.hostSignature, receiptSigningBytes(receipt.body), rawPublicKey(privateKeyFromSeed(servingSeed)));
  info(
    `Dave asks Bob's gateway "a closed-open model is" → "${JSON.parse(first.text).choices[0].text.trim()}" with Bob's signed receipt (x-clopen-receipt, signature ${genuine ? 'verifies' : 'DOES NOT verify'})`,
  );
  const streamed = await ask('/v1/chat/completions', { messages: [{ role: 'user', content: 'what is a dog?' }], max_tokens: 12, stream: true });
  const text = streamed.text
    .split('\n\n')
    .filter((e) => e.startsWith('data: {'))
    .map((e) => JSON.parse(e.slice(6)).choices[0].delta?.content ?? '')
    .join('');
  info(`a streamed chat completion: "${text.trim()}" (${streamed.text.split('\n\n').length - 1} server-sent events, the receipt in the last before [DONE])`);
  const reason = async (r) => `${r.res.status} ${JSON.parse(r.text).error.code}`;
  info(
    `the same permission string again: ${await reason(await ask('/v1/completions', { prompt: 'a closed-open model is', max_tokens: 16 }, { header: first.header }))}`,
  );
  info(
    `a string Dave signed for Charlie's host, sent to Bob: ${await reason(await ask('/v1/completions', { prompt: 'hello', max_tokens: 4 }, { host: oml.hosts.charlie.address }))}`,
  );
  const none = await fetch(`${gateway}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt":"hello"}' });
  info(`no permission string at all: ${none.status} ${(await none.json()).error.code}`);

  const usage = await until(async () => {
    const u = (await call(access, admin, 'GET', `/grants/${grant.id}/usage`)).body;
    return u.requests === 2 && u;
  });
  info(
    `Bob's gateway published its receipts in a signed batch (access.usage.reported); access counted ${usage.requests} requests, ${usage.tokensIn} tokens in, ${usage.tokensOut} out — the refused ones not at all`,
  );
  // The prover: registered by an admin, it signs its requests with its own EVM key.
  const paula = privateKeyToAccount(secret('prover-key', () => generatePrivateKey()));
  const registered = await call(access, admin, 'POST', '/provers', { address: paula.address, name: 'Paula the prover' });
  if (registered.status === 201) info(`Paula is registered as a prover (${paula.address})`);
  const signedPost = async (path, body) => {
    const raw = JSON.stringify(body);
    const auth = await signHostRequest(paula, { audience: 'access', method: 'POST', path, body: raw });
    const res = await fetch(`${access}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', [HOST_AUTH_HEADER]: auth }, body: raw });
    return { status: res.status, body: await res.json() };
  };
  let violation;
  const challenge = await signedPost('/prover/challenges', { versionId: oml.versionId, endpoint: oml.eveUrl });
  if (challenge.status !== 201) {
    const last = (await call(access, admin, 'GET', '/violations')).body[0];
    info(
      `no fresh challenge (${challenge.body.detail})${last ? `; the violation of an earlier run: ${last.kind}, accused ${last.accused.map((a) => a.hostAddress).join(', ')}` : ''}`,
    );
  } else {
    info(
      `Paula takes a challenge for Eve's endpoint: ${challenge.body.queries.length} requests, fingerprint keys mixed with decoys of the same shape (she cannot tell which is which, nor can Eve)`,
    );
    const answers = [];
    for (const q of challenge.body.queries) {
      const res = await fetch(`${oml.eveUrl}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: q.body });
      answers.push({ queryId: q.id, status: res.status, body: await res.text() });
    }
    const verdict = await signedPost(`/prover/challenges/${challenge.body.challengeId}/proof`, { answers });
    if (verdict.status !== 201) throw new Error(`proof: ${verdict.status} ${JSON.stringify(verdict.body)}`);
    const v = (violation = verdict.body.violation);
    const who = (address) => Object.entries(oml.hosts).find(([, a]) => a.address === address)?.[0] ?? address;
    if (!v) info(`the proof shows no violation (${verdict.body.keysAnswered} keys answered)`);
    else {
      info(
        `Eve's server answered ${v.keysAnswered} of ${v.keysAsked} keys with their secret responses; distribution's trace ${v.traceId.slice(0, 8)}… scored every licensed copy`,
      );
      for (const a of v.accused)
        info(
          `violation ${v.kind}: ${who(a.hostAddress)} (${a.role}), p-value ${Number(a.pValue).toExponential(2)} at a false-accusation bound of ${v.falseAccusation}`,
        );
      info(`evidence sha256 ${v.evidenceSha256.slice(0, 16)}… kept by access; event access.violation.proven, for incentives to slash`);
    }
  }
  oml.stopEve();
  return { grantId: grant.id, prover: paula.address, violation };
}

/** The open epoch closes; Dave checks his first request's inclusion proof against its root. */
export async function closeEpoch({ info, call, admin, access, grantId }) {
  const { verifyMerkleProof } = require('@clopen/merkle');
  const epoch = await call(access, admin, 'POST', '/admin/epochs/close');
  if (epoch.status === 201)
    info(
      `epoch ${epoch.body.number} closes: ${epoch.body.receiptCount} receipts under Merkle root ${epoch.body.root.slice(0, 18)}… (event access.epoch.closed)`,
    );
  const proof = (await call(access, admin, 'GET', `/epochs/proof?grantId=${grantId}&counter=1`)).body;
  const leaf = createHash('sha256').update(Buffer.of(0)).update(Buffer.from(proof.receipt, 'base64url')).digest();
  info(
    `Dave's inclusion proof for his first request: ${proof.proof.siblings.length} hashes to root ${proof.root.slice(0, 18)}… → ${verifyMerkleProof(proof.root, leaf, proof.proof) ? 'verifies' : 'DOES NOT verify'}`,
  );
  return epoch.status === 201 ? epoch.body : undefined;
}

async function until(probe, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('timed out; see .local/logs/');
    await new Promise((r) => setTimeout(r, 250));
  }
}
