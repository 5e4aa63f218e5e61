import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createWalletClient, http, parseEther, type Hex } from 'viem';
import { Client } from 'pg';
import { readEvents } from '@clopen/bus';
import { clopenContracts, testTokenContract } from '@clopen/contracts';
import { ENGINE_PYTHON_DIR, enginePythonPath } from '@clopen/fingerprint';
import { PERMISSION_HEADER, generateUserKey, permissionString, privateKeyFromSeed, signReceipt, userPublicKeyBytes } from '@clopen/host-sdk';
import { OnnxCausalLm } from '@clopen/inference';
import { accessV1, toBinary } from '@clopen/proto';
import { StorageClient } from '@clopen/storage-client';
import { TEST_ADMIN_KEY, api, eventually, freePort, type DeployedChain, type ServiceProcess } from '@clopen/testing';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { probeService } from './probe';
import { Platform, signedCall } from './platform';

// Copies are really embedded: minutes alone, longer beside the rest of the suite on a small CI machine.
jest.setTimeout(1_500_000);

interface Query {
  id: string;
  body: string;
}

/** What a prover does with a challenge: every query to the endpoint, no permission string, answers as received. */
async function ask(endpoint: string, queries: Query[]) {
  const answers = [];
  for (const q of queries) {
    const res = await fetch(`${endpoint}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: q.body });
    const receipt = res.headers.get('x-clopen-receipt') ?? undefined;
    answers.push({ queryId: q.id, status: res.status, body: await res.text(), ...(receipt ? { receipt } : {}) });
  }
  return answers;
}

/**
 * The seed's story against the real platform and a real chain: Alice registers her model and mints
 * its NFT; Bob and Charlie stake and each get their own fingerprinted copy; Bob's honest gateway
 * refuses a prover's unpermitted queries (no violation); Eve serves Charlie's leaked copy, the
 * prover proves it, and Charlie is slashed after the appeal window (incentives killed -9 on the way)
 * and the prover paid; Bob, serving his copy to anyone and signing the answers, is proven to serve
 * without permission, appeals in time and his slash is frozen; Dave pays fees, uses Bob's host, the
 * epoch's usage root goes on chain (the indexer killed -9 on the way), and the fees are claimed to
 * the last token.
 */
describe("platform: the seed's story", () => {
  let p: Platform;
  let versionId: string;
  let modelId: string;
  let licences: Record<'bob' | 'charlie', string>;
  let bobGateway: ServiceProcess;
  let bobDir: string;
  const bobKey = generatePrivateKey();
  const bob = privateKeyToAccount(bobKey);
  const charlieKey = generatePrivateKey();
  const charlie = privateKeyToAccount(charlieKey);
  const prover = privateKeyToAccount(generatePrivateKey());
  const bobServingSeed = randomBytes(32);
  const challenge = async (endpoint: string) => {
    const c = await signedCall(prover, p.access.url, 'access', 'POST', '/prover/challenges', { versionId, endpoint });
    expect(c.status).toBe(201);
    return c.body as { challengeId: string; queries: Query[] };
  };
  let chain: DeployedChain;
  const violations: Record<'charlie' | 'bob', string> = { charlie: '', bob: '' };
  const walletOf = (key: Hex) => {
    const account = privateKeyToAccount(key);
    const wallet = createWalletClient({ account, chain: chain.chain, transport: http(chain.node.url, { retryCount: 0 }) });
    return {
      address: account.address,
      c: clopenContracts(chain.addresses, { public: chain.publicClient, wallet }),
      token: testTokenContract(chain.addresses.token, { public: chain.publicClient, wallet }),
    };
  };
  const mined = async (hash: Promise<Hex>) => expect((await chain.publicClient.waitForTransactionReceipt({ hash: await hash })).status).toBe('success');
  const incentives = (path: string) => api(p.incentives!.url, TEST_ADMIN_KEY, 'GET', path).then((r) => r.body);
  const balanceOf = (address: Hex) => walletOf(chain.node.accounts[0]).c.token.read.balanceOf([address]);
  const prove = (challengeId: string, answers: unknown[]) =>
    signedCall(prover, p.access.url, 'access', 'POST', `/prover/challenges/${challengeId}/proof`, { answers });

  beforeAll(async () => {
    p = await Platform.start();
    const aliceStorage = await p.key(p.storage.url, 'alice', ['owner']);
    const aliceDistribution = await p.key(p.distribution.url, 'alice', ['owner']);
    const published = await p.publishBase(aliceStorage, 'alice-gpt');
    [modelId, versionId] = [published.modelId, published.version.id];
    // Alice mints the model's NFT and commits the version's manifest hash; Bob and Charlie stake 100 on it.
    chain = await p.startChain();
    const alice = walletOf(chain.node.accounts[2]);
    await mined(alice.c.modelRegistry.write.registerModel([10n]));
    await mined(alice.c.modelRegistry.write.publishVersion([1n, `0x${published.version.manifestSha256}`, `0x${'11'.repeat(32)}`]));
    for (const key of [bobKey, charlieKey]) {
      const host = walletOf(key);
      await mined(chain.wallet.sendTransaction({ to: host.address, value: parseEther('1'), account: chain.account, chain: chain.chain }));
      await mined(host.token.write.mint([host.address, 100n]));
      await mined(host.token.write.approve([chain.addresses.hostCollateral, 100n]));
      await mined(host.c.hostCollateral.write.stake([1n, 100n]));
    }
    await eventually(
      async () => (await incentives('/models')).some((l: { versionId: string; chainModelId: string }) => l.versionId === versionId && l.chainModelId === '1'),
      { timeoutMs: 60_000, what: 'incentives to link the version to NFT #1' },
    );
    expect(
      (await api(p.distribution.url, aliceDistribution, 'POST', `/versions/${versionId}/pool`, { hosts: 2, coalition: 1, keyStrategy: 'english' })).status,
    ).toBe(202);
    await p.waitForPool(versionId, aliceDistribution);
    licences = {} as typeof licences;
    // Their stakes license them: distribution follows chain.collateral.staked.
    for (const [name, account] of [
      ['bob', bob],
      ['charlie', charlie],
    ] as const) {
      const [l] = await eventually(
        async () => {
          const found = (await api(p.distribution.url, TEST_ADMIN_KEY, 'GET', `/licences?versionId=${versionId}&host=${account.address}&status=active`)).body;
          return found.length > 0 && found;
        },
        { timeoutMs: 60_000, what: `${name}'s licence from his stake` },
      );
      expect(l.origin).toBe('chain');
      licences[name] = l.id;
    }
    await Promise.all(Object.values(licences).map((id) => p.waitForCopy(id)));
    // Bob's gateway fetches its own copy (with its ONNX graph) and serves it behind permission strings.
    bobDir = await mkdtemp(join(tmpdir(), 'bob-copy-'));
    bobGateway = await p.spawn('host-gateway', {
      GATEWAY_HOST_KEY: bobKey,
      GATEWAY_SERVING_KEY: `s1:${bobServingSeed.toString('base64')}`,
      GATEWAY_MODEL_ID: modelId,
      GATEWAY_MODEL_DIR: bobDir,
      GATEWAY_LICENCE_ID: licences.bob,
      DISTRIBUTION_URL: p.distribution.url,
      ACCESS_URL: p.access.url,
      GATEWAY_SPOOL_DIR: join(bobDir, '.spool'),
      GATEWAY_THREADS: '1',
    });
    expect((await api(p.access.url, TEST_ADMIN_KEY, 'POST', '/provers', { address: prover.address, name: 'watchdog' })).status).toBe(201);
  });
  afterAll(async () => {
    await p?.stop();
    if (bobDir) await rm(bobDir, { recursive: true, force: true });
  });

  it('only registered provers get challenges', async () => {
    const stranger = privateKeyToAccount(generatePrivateKey());
    const refused = await signedCall(stranger, p.access.url, 'access', 'POST', '/prover/challenges', { versionId, endpoint: 'http://example.test' });
    expect(refused.status).toBe(403);
    expect(refused.body.detail).toMatch(/not a registered prover/);
    expect((await fetch(`${p.access.url}/prover/challenges`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(
      401,
    );
  });

  it('finds no violation at an honest host: its gateway refuses every query without a permission string', async () => {
    const c = await challenge(bobGateway.url);
    // Keys and decoys are alike: one request shape, nothing that marks a key.
    expect(new Set(c.queries.map((q) => Object.keys(JSON.parse(q.body)).join(','))).size).toBe(1);
    const answers = await ask(bobGateway.url, c.queries);
    expect(answers.every((a) => a.status === 401)).toBe(true);
    const proof = await prove(c.challengeId, answers);
    expect(proof.status).toBe(201);
    expect(proof.body).toMatchObject({ outcome: 'no_violation', unpermittedAnswers: 0, keysAnswered: 0 });
  });

  it("proves Charlie's copy served by Eve, who has no licence", async () => {
    const leaked = await mkdtemp(join(tmpdir(), 'eve-'));
    const copyId = (await api(p.distribution.url, TEST_ADMIN_KEY, 'GET', `/licences/${licences.charlie}/embedding`)).body.copyVersionId;
    await new StorageClient(p.storage.url, TEST_ADMIN_KEY).downloadVersion(copyId, leaked);
    const port = await freePort();
    const eve: ChildProcess = spawn(enginePythonPath(), ['-m', 'clopen_fp.serve', '--model', leaked, '--port', String(port)], {
      cwd: ENGINE_PYTHON_DIR,
      stdio: 'ignore',
    });
    try {
      const endpoint = `http://127.0.0.1:${port}`;
      await eventually(
        async () =>
          (await fetch(`${endpoint}/v1/completions`, { method: 'POST', body: '{"prompt":"a","max_tokens":1}' }).catch(() => undefined))?.status === 200,
        { timeoutMs: 60_000, what: "Eve's server" },
      );
      const c = await challenge(endpoint);
      const answers = await ask(endpoint, c.queries);
      // Access dies (kill -9) between distribution's trace and its own commit: this test holds the
      // challenge's row, so access waits right after the trace, and is killed there. The prover
      // submits the same proof to the restarted access: the same trace, one violation.
      const pg = new Client({ connectionString: p.db.url });
      await pg.connect();
      try {
        await pg.query('BEGIN');
        await pg.query('SELECT 1 FROM access.prover_challenges WHERE id = $1 FOR UPDATE', [c.challengeId]);
        const lost = prove(c.challengeId, answers).catch(() => undefined);
        await eventually(async () => (await pg.query('SELECT trace_id FROM distribution.challenges WHERE id = $1', [c.challengeId])).rows[0]?.trace_id, {
          timeoutMs: 60_000,
          what: "distribution's trace",
        });
        const port = Number(new URL(p.access.url).port);
        await p.access.kill();
        await lost;
        await pg.query('ROLLBACK');
        p.access = await p.spawnAccess(port);
      } finally {
        await pg.end();
      }
      const proof = await prove(c.challengeId, answers);
      expect(proof.status).toBe(201);
      expect(proof.body.outcome).toBe('violation');
      // Submitted once more (its answer lost): the same verdict, still one violation.
      expect((await prove(c.challengeId, answers)).body).toEqual(proof.body);
      expect(proof.body.violation).toMatchObject({
        kind: 'unlicensed_copy',
        prover: prover.address,
        endpoint,
        accused: [{ hostAddress: charlie.address, role: 'copy_licensee' }],
      });
      expect(proof.body.violation.accused[0].pValue).toBeLessThanOrEqual(0.01);
      const [event] = await eventually(
        async () => (await readEvents(p.bus, 'access.violation.proven')).length === 1 && readEvents(p.bus, 'access.violation.proven'),
      );
      expect(event.payload).toMatchObject({
        violationId: proof.body.violation.id,
        kind: 'unlicensed_copy',
        evidenceSha256: proof.body.violation.evidenceSha256,
        prover: prover.address,
      });
      expect(event.payload.accused.map((a) => a.hostAddress)).toEqual([charlie.address]);
      violations.charlie = proof.body.violation.id;
      // The evidence is kept as submitted; the same challenge cannot be proven twice.
      const stored = await api(p.access.url, TEST_ADMIN_KEY, 'GET', `/violations/${proof.body.violation.id}`);
      expect(stored.body.evidence.answers).toHaveLength(c.queries.length);
      expect((await prove(c.challengeId, [{ queryId: c.queries[0].id, status: 200, body: '{}' }])).status).toBe(409);
    } finally {
      eve.kill();
      await rm(leaked, { recursive: true, force: true });
    }
  });

  it('proves that Bob serves without permission when he answers anyone and signs it; a tampered proof is refused', async () => {
    // Bob's own server: his copy, no permission check, every answer signed with his serving key.
    const model = await OnnxCausalLm.load(bobDir, { threads: 1 });
    const servingKey = privateKeyFromSeed(bobServingSeed);
    const answer = async (raw: string, res: ServerResponse) => {
      const { prompt, max_tokens } = JSON.parse(raw);
      const out = await model.complete(prompt, { maxTokens: max_tokens });
      const body = JSON.stringify({ object: 'text_completion', choices: [{ index: 0, text: out.text, finish_reason: out.finishReason }] });
      const receipt = signReceipt(servingKey, 's1', {
        permission: { grantId: '', counter: 0n, modelId, userSignature: new Uint8Array() },
        host: bob.address,
        requestBody: raw,
        responseBody: body,
        tokensIn: out.tokensIn,
        tokensOut: out.tokensOut,
      });
      res
        .writeHead(200, {
          'content-type': 'application/json',
          'x-clopen-receipt': Buffer.from(toBinary(accessV1.UsageReceiptSchema, receipt)).toString('base64url'),
        })
        .end(body);
    };
    const server: Server = createServer((req, res) => {
      let raw = '';
      req.on('data', (d) => (raw += d));
      req.on('end', () => answer(raw, res).catch((e: Error) => res.writeHead(500).end(e.message)));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      const c = await challenge(endpoint);
      const answers = await ask(endpoint, c.queries);
      expect(answers.every((a) => a.receipt)).toBe(true);

      const tampered = answers.map((a, i) => (i === 0 ? { ...a, body: a.body.replace('"text":"', '"text":"x') } : a));
      const refused = await prove(c.challengeId, tampered);
      expect(refused.status).toBe(400);
      expect(refused.body.detail).toMatch(/not the one the host signed/);
      const forged = answers.map((a, i) => (i === 0 ? { ...a, receipt: a.receipt!.slice(0, -4) + (a.receipt!.endsWith('AAAA') ? 'BBBB' : 'AAAA') } : a));
      expect((await prove(c.challengeId, forged)).status).toBe(400);

      const proof = await prove(c.challengeId, answers);
      expect(proof.status).toBe(201);
      violations.bob = proof.body.violation.id;
      expect(proof.body.violation).toMatchObject({
        kind: 'served_without_permission',
        unpermittedAnswers: c.queries.length,
        accused: [{ hostAddress: bob.address, role: 'served_without_permission' }],
      });
      // The fingerprints confirm it is Bob's own copy.
      expect(proof.body.trace.accused).toEqual([bob.address]);
      expect(proof.body.violation.accused[0].pValue).toBeLessThanOrEqual(0.01);
    } finally {
      server.close();
      await model.close();
    }
  });
  it('slashes Charlie after the appeal window, pays the prover and ends his licence, once, though incentives dies (kill -9) in the middle', async () => {
    const slash = () => incentives(`/slashes/${violations.charlie}`);
    await eventually(async () => (await slash()).status === 'proposed', { timeoutMs: 60_000, what: "Charlie's slash to be proposed" });
    expect(await slash()).toMatchObject({ hostAddress: charlie.address, amount: '100', prover: prover.address, chainModelId: '1' });
    await p.incentives!.kill();
    p.incentives = await p.spawnIncentives();
    const aliceBefore = await balanceOf(privateKeyToAccount(chain.node.accounts[2]).address);
    await chain.node.increaseTime(61);
    await eventually(async () => (await slash()).status === 'executed', { timeoutMs: 60_000, what: 'the slash to execute' });
    expect(await balanceOf(prover.address)).toBe(10n); // the 10 % bounty
    expect((await balanceOf(privateKeyToAccount(chain.node.accounts[2]).address)) - aliceBefore).toBe(90n);
    expect((await walletOf(charlieKey).c.hostCollateral.read.stakeOf([charlie.address, 1n])).active).toBe(0n);
    await eventually(async () => (await readEvents(p.bus, 'chain.collateral.slash_executed')).length === 1, {
      timeoutMs: 30_000,
      what: 'chain.collateral.slash_executed',
    });
    // The executed slash ends Charlie's licence: his copy is no longer delivered.
    const ended = await eventually(
      async () => {
        const l = (await api(p.distribution.url, TEST_ADMIN_KEY, 'GET', `/licences/${licences.charlie}`)).body;
        return l.status === 'ended' && l;
      },
      { timeoutMs: 30_000, what: "Charlie's licence to end" },
    );
    expect(ended.endedReason).toMatch(/slashed on chain \(slash 1/);
    expect((await api(p.distribution.url, TEST_ADMIN_KEY, 'GET', `/licences/${licences.bob}`)).body.status).toBe('active');
  });

  it("freezes Bob's slash when he appeals in time", async () => {
    const slash = () => incentives(`/slashes/${violations.bob}`);
    await eventually(async () => (await slash()).status === 'proposed', { timeoutMs: 60_000, what: "Bob's slash to be proposed" });
    const bobHost = walletOf(bobKey);
    await mined(bobHost.c.hostCollateral.write.appeal([BigInt((await slash()).chainSlashId)]));
    await chain.node.increaseTime(61);
    await eventually(async () => (await slash()).status === 'appealed', { timeoutMs: 30_000, what: 'the appeal to freeze the slash' });
    await new Promise((r) => setTimeout(r, 2_000)); // rounds of the settlement loop pass
    expect((await bobHost.c.hostCollateral.read.slashOf([BigInt((await slash()).chainSlashId)])).status).toBe(2); // Appealed
    expect(await balanceOf(bob.address)).toBe(0n);
  });

  it("settles Dave's epoch on chain and the fees are claimed to the last token, though access and the indexer die (kill -9) in the middle", async () => {
    const dave = walletOf(chain.node.accounts[5]);
    await mined(dave.token.write.mint([dave.address, 1_000n]));
    await mined(dave.token.write.approve([chain.addresses.rewardsVault, 1_000n]));
    await mined(dave.c.rewardsVault.write.deposit([1n, 1_000n]));
    const daveKey = await p.key(p.access.url, 'dave', ['user']);
    const userKey = generateUserKey();
    const bought = await api(p.access.url, daveKey, 'POST', '/grants', {
      modelId,
      userPublicKey: userPublicKeyBytes(userKey).toString('base64url'),
      quota: { requests: 10 },
      days: 1,
    });
    expect(bought.status).toBe(201);
    const signed = { bytes: Buffer.from(bought.body.grant, 'base64url'), issuerSignature: Buffer.from(bought.body.issuerSignature, 'base64url') };
    for (const counter of [1, 2]) {
      const raw = JSON.stringify({ prompt: 'a closed-open model is', max_tokens: 4 });
      const res = await fetch(`${bobGateway.url}/v1/completions`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [PERMISSION_HEADER]: permissionString(signed, userKey, counter, { host: bob.address, model: modelId, body: raw }),
        },
        body: raw,
      });
      expect(res.status).toBe(200);
    }
    await eventually(async () => (await api(p.access.url, TEST_ADMIN_KEY, 'GET', `/grants/${bought.body.id}/usage`)).body.requests === 2, {
      timeoutMs: 30_000,
      what: "Dave's receipts",
    });

    // Access and the indexer die (kill -9) between the receipts and the epoch: nothing is lost.
    await Promise.all([p.access.kill(), p.indexer!.kill()]);
    [p.access, p.indexer] = await Promise.all([p.spawnAccess(), p.spawnIndexer()]);
    expect((await api(p.access.url, TEST_ADMIN_KEY, 'GET', `/grants/${bought.body.id}/usage`)).body.requests).toBe(2);
    const closed = await api(p.access.url, TEST_ADMIN_KEY, 'POST', '/admin/epochs/close');
    expect(closed.status).toBe(201);
    const n = closed.body.number;
    await eventually(async () => (await incentives(`/epochs/${n}`)).allocationStatus === 'posted', { timeoutMs: 60_000, what: 'the allocation to be posted' });
    const epoch = await incentives(`/epochs/${n}`);
    expect(epoch).toMatchObject({ usageStatus: 'committed', receiptCount: '2', allocationTotal: '20' }); // 2 requests × 10
    expect((await dave.c.usageLedger.read.usageOf([BigInt(n)])).receiptRoot).toBe(`0x${closed.body.root.replace(/^0x/, '')}`);

    // Anyone may submit a claim (the tokens go to the account): Dave submits them all.
    let claimed = 0n;
    for (const entry of epoch.allocation as { account: Hex; amount: string }[]) {
      const [claim] = (await incentives(`/claims/${entry.account}`)).filter((c: { epoch: string }) => c.epoch === String(n));
      await mined(dave.c.rewardsVault.write.claim([BigInt(n), entry.account, BigInt(claim.amount), claim.proof]));
      claimed += BigInt(claim.amount);
    }
    expect(claimed).toBe(20n);
    const shares = Object.fromEntries((epoch.allocation as { account: string; amount: string }[]).map((e) => [e.account, e.amount]));
    expect(shares[privateKeyToAccount(chain.node.accounts[2]).address]).toBe('10'); // Alice, the owner: 50 %
    expect(shares[bob.address]).toBe('6'); // the host that served: 30 %
    expect(shares[prover.address]).toBe('2'); // the prover of the epoch's violations: 10 %
    // Every log published once, the restart notwithstanding.
    await eventually(async () => (await readEvents(p.bus, 'chain.vault.claimed')).length === (epoch.allocation as unknown[]).length, {
      timeoutMs: 30_000,
      what: 'chain.vault.claimed',
    });
    const staked = await readEvents(p.bus, 'chain.collateral.staked');
    expect(staked.map((e) => e.payload.args.host).sort()).toEqual([bob.address, charlie.address].sort());
  });

  it('answers every malformed input any service can get with a 4xx and a JSON body, never a 5xx', async () => {
    const services: [string, string][] = [
      ['storage', p.storage.url],
      ['distribution', p.distribution.url],
      ['embedder', p.embedder.url],
      ['access', p.access.url],
      ['chain-indexer', p.indexer!.url],
      ['incentives', p.incentives!.url],
      ['host-gateway', bobGateway.url],
    ];
    const results = (await Promise.all(services.map(([name, url]) => probeService(name, url)))).flat();
    expect(results.length).toBeGreaterThan(500);
    expect(results.filter((r) => r.status >= 500 || r.status === 0)).toEqual([]);
    for (const r of results)
      expect({
        ...r,
        json: (() => {
          try {
            return JSON.parse(r.body) !== undefined;
          } catch {
            return r.status === 302 || r.status === 307 || r.status === 204;
          }
        })(),
      }).toMatchObject({ json: true });
    const of = (what: string) => results.filter((r) => r.what === what);
    expect(new Set(of('oversize body').map((r) => r.status))).toEqual(new Set([413]));
    expect(of('malformed JSON').every((r) => r.status === 400 || r.status === 401 || r.status === 415)).toBe(true);
    expect(of('64 KB header').map((r) => r.status)).toEqual(services.map(() => 431));
    // The gateway's OpenAI routes answer in OpenAI's shape, its other routes in the platform's.
    const openAi = results.filter((r) => r.service === 'host-gateway' && r.path.startsWith('/v1/') && r.what === 'malformed JSON');
    expect(openAi.length).toBeGreaterThan(0);
    for (const r of openAi)
      expect(JSON.parse(r.body)).toEqual({ error: { message: expect.any(String), type: 'invalid_request_error', code: 'invalid_argument' } });
  });
});
