import { randomBytes, randomUUID } from 'node:crypto';
import { createWalletClient, getAddress, http, type Address, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { Bus } from '@clopen/bus';
import { GOVERNANCE_ROLE, PROTOCOL_ROLE, clopenContracts, contractRevert, testTokenContract } from '@clopen/contracts';
import { timestampFromDate } from '@clopen/proto';
import { createService, type RunningService } from '@clopen/service-kit';
import {
  TEST_ADMIN_KEY,
  api,
  createTestBusNamespace,
  createTestDatabase,
  deployedChain,
  eventually,
  serviceEnv,
  testInfra,
  type DeployedChain,
  type TestBusNamespace,
  type TestDatabase,
} from '@clopen/testing';
import { incentivesService } from '../src/incentives.service';
import { SettlementLoop } from '../src/settlement/settlement.loop';
import { rpcProxy } from './rpc-proxy';

const hex32 = () => randomBytes(32).toString('hex');

/**
 * The incentives service against a real hardhat node, fed the events access, storage and the chain
 * indexer publish: violation → slash after the appeal window → prover paid; an appeal in time
 * freezes it; fees → allocation → claims add up to the deposits; and a chain that reverts, drops a
 * transaction, leaves it unmined or times out never gets a second transaction.
 */
describe('incentives', () => {
  let chain: DeployedChain;
  let proxy: Awaited<ReturnType<typeof rpcProxy>>;
  let db: TestDatabase;
  let ns: TestBusNamespace;
  let bus: Bus;
  let svc: RunningService<any>;
  let loop: SettlementLoop;
  let actors: Record<'alice' | 'bob' | 'charlie' | 'dave' | 'eve' | 'paula', ReturnType<typeof actor>>;
  const modelId = randomUUID();
  const versionId = randomUUID();
  const manifest = hex32();

  const actor = (key: Hex) => {
    const account = privateKeyToAccount(key);
    const wallet = createWalletClient({ account, chain: chain.chain, transport: http(chain.node.url, { retryCount: 0 }) });
    return {
      address: account.address,
      c: clopenContracts(chain.addresses, { public: chain.publicClient, wallet }),
      token: testTokenContract(chain.addresses.token, { public: chain.publicClient, wallet }),
    };
  };
  const mined = async (hash: Promise<Hex>) => {
    const receipt = await chain.publicClient.waitForTransactionReceipt({ hash: await hash });
    expect(receipt.status).toBe('success');
    return receipt;
  };
  const admin = (method: string, path: string, body?: unknown) => api(svc.url, TEST_ADMIN_KEY, method, path, body);
  /** Rounds of the settlement loop until `done` holds. */
  const settle = async (done: () => Promise<boolean>, what: string) => {
    await eventually(
      async () => {
        await loop.tick();
        return done();
      },
      { timeoutMs: 30_000, intervalMs: 100, what },
    );
  };
  const slashOf = async (violationId: string, host: Address) =>
    ((await admin('GET', `/slashes?host=${host}`)).body as any[]).find((s) => s.violationId === violationId);
  const tokenOf = async (a: Address) => actors.alice.c.token.read.balanceOf([a]);
  const protocolNonce = () => chain.publicClient.getTransactionCount({ address: privateKeyToAccount(chain.protocolKey).address });

  const prove = (violationId: string, accused: { hostAddress: Address; role: string }[], evidence = hex32()) =>
    bus.publish('access.violation.proven', {
      violationId,
      challengeId: randomUUID(),
      modelId: versionId,
      endpoint: 'http://eve.example/v1/completions',
      prover: actors.paula.address,
      kind: 'unlicensed_copy',
      accused: accused.map((a) => ({ ...a, pValue: 1e-9 })),
      evidenceSha256: evidence,
    });

  beforeAll(async () => {
    chain = await deployedChain();
    proxy = await rpcProxy(chain.node.url);
    [db, ns] = await Promise.all([createTestDatabase(), createTestBusNamespace()]);
    bus = await Bus.connect({ servers: testInfra.natsUrl, producer: 'test', namespace: ns.namespace });
    await bus.ensureStreams();
    svc = await createService(incentivesService, {
      ...serviceEnv({ db, ns }),
      CHAIN_RPC_URL: proxy.url,
      CHAIN_CONTRACTS: chain.contracts,
      INCENTIVES_PROTOCOL_KEY: chain.protocolKey,
      CHAIN_CONFIRMATIONS: '0',
      CHAIN_RPC_TIMEOUT_MS: '1500',
      TX_BUMP_AFTER_SECONDS: '2',
      INCENTIVES_MANUAL: '1',
    });
    loop = svc.app.get(SettlementLoop);
    const keys = chain.node.accounts;
    actors = { alice: actor(keys[2]), bob: actor(keys[3]), charlie: actor(keys[4]), dave: actor(keys[5]), eve: actor(keys[6]), paula: actor(keys[7]) };

    // Alice registers the model (10 tokens a request) and commits the version's manifest hash.
    await mined(actors.alice.c.modelRegistry.write.registerModel([10n]));
    await mined(actors.alice.c.modelRegistry.write.publishVersion([1n, `0x${manifest}`, `0x${hex32()}`]));
    for (const host of [actors.bob, actors.charlie]) {
      await mined(host.token.write.mint([host.address, 1_000n]));
      await mined(host.token.write.approve([chain.addresses.hostCollateral, 1_000n]));
      await mined(host.c.hostCollateral.write.stake([1n, 1_000n]));
    }
    // What storage and the chain indexer publish about it.
    await bus.publish('storage.version.published', { version: { id: versionId, modelId, label: 'v1', manifestSha256: manifest }, ownerId: 'alice' });
    await bus.publish('chain.registry.version_published', {
      position: {
        chainId: BigInt(chain.node.chainId),
        blockNumber: 3n,
        blockHash: `0x${hex32()}`,
        transactionHash: `0x${hex32()}`,
        logIndex: 0,
        address: chain.addresses.modelRegistry,
      },
      contract: 'ModelRegistry',
      event: 'VersionPublished',
      args: { modelId: '1', version: '0', artefactHash: `0x${manifest}`, licenceTermsHash: `0x${hex32()}` },
    });
    await eventually(async () => ((await admin('GET', '/models')).body as any[]).some((l) => l.chainModelId === '1' && l.modelId === modelId), {
      what: 'the model link',
    });
  });

  afterAll(async () => {
    await svc?.close();
    await bus?.close();
    await proxy?.close();
    await chain?.node.stop();
    await Promise.allSettled([db?.drop(), ns?.cleanup()]);
  });

  it('slashes a proven violation once, after the appeal window, and pays the prover', async () => {
    const violationId = randomUUID();
    const evidence = hex32();
    const accused = [
      { hostAddress: actors.charlie.address, role: 'copy_licensee' },
      { hostAddress: actors.eve.address, role: 'serving_host' },
    ];
    // The same violation delivered twice (a redelivery, a replayed stream): one slash.
    await prove(violationId, accused, evidence);
    await prove(violationId, accused, evidence);
    await settle(async () => (await slashOf(violationId, actors.charlie.address))?.status === 'proposed', "Charlie's slash to be proposed");
    expect((await slashOf(violationId, actors.eve.address)).status).toBe('skipped'); // Eve staked nothing
    const slash = await slashOf(violationId, actors.charlie.address);
    expect(slash).toMatchObject({ amount: '1000', chainSlashId: '1', prover: actors.paula.address });
    expect((await actors.alice.c.hostCollateral.read.stakeOf([actors.charlie.address, 1n])).active).toBe(0n); // reserved

    // Inside the window nothing is executed.
    await loop.tick();
    expect((await slashOf(violationId, actors.charlie.address)).status).toBe('proposed');
    const ownerBefore = await tokenOf(actors.alice.address);
    await chain.node.increaseTime(61);
    // A late appeal is refused by the contract; the slash goes ahead.
    const late = await actors.charlie.c.hostCollateral.write.appeal([1n]).catch((e: unknown) => e);
    expect(contractRevert(late)?.name).toBe('AppealWindowClosed');
    await settle(async () => (await slashOf(violationId, actors.charlie.address)).status === 'executed', 'the slash to execute');
    expect(await tokenOf(actors.paula.address)).toBe(100n); // 10 % bounty
    expect((await tokenOf(actors.alice.address)) - ownerBefore).toBe(900n);
    expect(await actors.alice.c.hostCollateral.read.slashCount()).toBe(1n);
    expect((await slashOf(violationId, actors.charlie.address)).proverBounty).toBe('100');
  });

  it('freezes a slash the host appealed in time until an operator resolves it', async () => {
    const violationId = randomUUID();
    await prove(violationId, [{ hostAddress: actors.bob.address, role: 'served_without_permission' }]);
    await settle(async () => (await slashOf(violationId, actors.bob.address))?.status === 'proposed', "Bob's slash to be proposed");
    const { chainSlashId, id } = await slashOf(violationId, actors.bob.address);
    await mined(actors.bob.c.hostCollateral.write.appeal([BigInt(chainSlashId)]));
    await chain.node.increaseTime(120);
    await settle(async () => (await slashOf(violationId, actors.bob.address)).status === 'appealed', 'the appeal to be seen');
    await loop.tick();
    expect((await actors.alice.c.hostCollateral.read.slashOf([BigInt(chainSlashId)])).status).toBe(2); // Appealed, not executed

    expect((await admin('POST', `/slashes/${id}/resolve`, { uphold: 'no' })).status).toBe(400);
    expect((await admin('POST', `/slashes/${id}/resolve`, { uphold: false, reason: 'the receipts were forged by a partner' })).status).toBe(202);
    await settle(async () => (await slashOf(violationId, actors.bob.address)).status === 'dismissed', 'the appeal to be resolved');
    expect((await actors.alice.c.hostCollateral.read.stakeOf([actors.bob.address, 1n])).active).toBe(1_000n);
    const audit = (await admin('GET', `/audit?action=slash.resolve`)).body;
    expect(audit[0]).toMatchObject({ target: `slash:${id}`, after: { uphold: false, reason: 'the receipts were forged by a partner' } });
    expect((await admin('POST', `/slashes/${id}/resolve`, { uphold: true, reason: 'again' })).status).toBe(409);
  });

  it("commits the epoch's usage root and allocates its fees; the claims add up to the deposits", async () => {
    await mined(actors.dave.token.write.mint([actors.dave.address, 500n]));
    await mined(actors.dave.token.write.approve([chain.addresses.rewardsVault, 500n]));
    await mined(actors.dave.c.rewardsVault.write.deposit([1n, 500n]));
    const root = hex32();
    const closed = {
      epoch: 1n,
      startedAt: timestampFromDate(new Date(Date.now() - 3_600_000)),
      endedAt: timestampFromDate(new Date(Date.now() + 1_000)),
      receiptRoot: root,
      receiptCount: 60n,
      totals: [
        { modelId, hostAddress: actors.bob.address, userId: 'dave', requests: 40n, tokensIn: 400n, tokensOut: 800n },
        { modelId, hostAddress: actors.charlie.address, userId: 'dave', requests: 20n, tokensIn: 200n, tokensOut: 400n },
      ],
    };
    await bus.publish('access.epoch.closed', closed);
    await bus.publish('access.epoch.closed', closed); // delivered twice: one commitment
    await settle(async () => (await admin('GET', '/epochs/1')).body.allocationStatus === 'posted', 'the allocation to be posted');
    expect((await actors.alice.c.usageLedger.read.usageOf([1n])).receiptRoot).toBe(`0x${root}`);
    const epoch = (await admin('GET', '/epochs/1')).body;
    expect(epoch.allocationTotal).toBe('500'); // 60 requests × 10 = 600, capped by the 500 deposited

    let claimed = 0n;
    for (const a of Object.values(actors)) {
      const claims = (await api(svc.url, TEST_ADMIN_KEY, 'GET', `/claims/${a.address}`)).body as any[];
      for (const c of claims) {
        await mined(a.c.rewardsVault.write.claim([BigInt(c.epoch), a.address, BigInt(c.amount), c.proof]));
        claimed += BigInt(c.amount);
      }
    }
    const treasury = (await admin('GET', '/governance')).body.treasuryAddress as Address;
    for (const c of (await admin('GET', `/claims/${treasury}`)).body as any[]) {
      await mined(actors.alice.c.rewardsVault.write.claim([BigInt(c.epoch), getAddress(treasury), BigInt(c.amount), c.proof]));
      claimed += BigInt(c.amount);
    }
    expect(claimed).toBe(500n);
    expect(await actors.alice.c.rewardsVault.read.totalAllocated()).toBe(500n);
    const shares = Object.fromEntries(epoch.allocation.map((e: any) => [e.account, e.amount]));
    expect(shares[actors.alice.address]).toBe('250'); // owner 50 %
    expect(shares[actors.bob.address]).toBe('100'); // hosts 30 % by requests: 40 of 60
    expect(shares[actors.charlie.address]).toBe('50');
    expect(shares[actors.paula.address]).toBe('50'); // provers 10 %: two violations proven in the epoch
    const balance = (await admin('GET', `/balances/${actors.alice.address}`)).body;
    expect(balance.claims).toEqual([{ epoch: '1', amount: '250', claimed: true }]);
    expect((await api(svc.url, undefined, 'GET', `/balances/${actors.alice.address}`)).status).toBe(401);
    expect((await admin('GET', '/balances/0x1234')).status).toBe(400);
  });

  it('settles a root that would revert with a clear error and spends no nonce', async () => {
    // Someone else with PROTOCOL_ROLE wrote epoch 2 first, with another root.
    await mined(
      chain.wallet.writeContract({
        address: chain.addresses.usageLedger,
        abi: (await import('@clopen/contracts')).usageLedgerAbi,
        functionName: 'grantRole',
        args: [PROTOCOL_ROLE, chain.account.address],
        account: chain.account,
        chain: chain.chain,
      }),
    );
    await mined(
      chain.wallet.writeContract({
        address: chain.addresses.usageLedger,
        abi: (await import('@clopen/contracts')).usageLedgerAbi,
        functionName: 'commitUsageRoot',
        args: [2n, `0x${hex32()}`, 1n],
        account: chain.account,
        chain: chain.chain,
      }),
    );
    const nonce = await protocolNonce();
    await bus.publish('access.epoch.closed', { epoch: 2n, receiptRoot: hex32(), receiptCount: 5n, totals: [] });
    await settle(async () => (await admin('GET', '/epochs/2')).body.usageStatus === 'failed', 'the epoch to fail');
    const epoch = (await admin('GET', '/epochs/2')).body;
    expect(epoch.error).toContain('UsageRootAlreadyWritten');
    expect(epoch.allocationStatus).toBe('pending'); // nothing allocated on a usage root that is not ours
    expect((await admin('GET', '/transactions/usage-root:2')).body).toMatchObject({ status: 'reverted', errorName: 'UsageRootAlreadyWritten', nonce: null });
    expect(await protocolNonce()).toBe(nonce);
  });

  it('replaces a transaction left unmined with higher fees, and sends a dropped one again, never twice', async () => {
    await chain.node.rpc('evm_setAutomine', [false]);
    try {
      const nonce = await protocolNonce();
      await bus.publish('access.epoch.closed', { epoch: 3n, receiptRoot: hex32(), receiptCount: 1n, totals: [] });
      await settle(async () => (await admin('GET', '/transactions/usage-root:3')).body.status === 'sent', 'the root to be sent');
      const first = (await admin('GET', '/transactions/usage-root:3')).body;
      // The node forgets it: the next round broadcasts the same bytes again.
      await chain.node.rpc('hardhat_dropTransaction', [first.hashes[0]]);
      await loop.tick();
      expect(await chain.publicClient.getTransaction({ hash: first.hashes[0] })).toMatchObject({ nonce });
      // Unmined past TX_BUMP_AFTER_SECONDS: re-signed with the same nonce and higher fees.
      await new Promise((r) => setTimeout(r, 2_100));
      await loop.tick();
      const bumped = (await admin('GET', '/transactions/usage-root:3')).body;
      expect(bumped.hashes).toHaveLength(2);
      expect(BigInt(bumped.maxFeePerGas)).toBeGreaterThan(BigInt(first.maxFeePerGas));
      await chain.node.mine(1);
      await settle(async () => (await admin('GET', '/epochs/3')).body.usageStatus === 'committed', 'the bumped root to be committed');
      expect((await admin('GET', '/transactions/usage-root:3')).body.minedHash).toBe(bumped.hashes[1]);
      expect(await protocolNonce()).toBe(nonce + 1);
    } finally {
      await chain.node.rpc('evm_setAutomine', [true]);
    }
  });

  it('survives an RPC that times out: the transaction that got through is followed, not sent again', async () => {
    const nonce = await protocolNonce();
    proxy.mode.down = true;
    await bus.publish('access.epoch.closed', { epoch: 4n, receiptRoot: hex32(), receiptCount: 1n, totals: [] });
    await eventually(async () => (await admin('GET', '/transactions/usage-root:4')).status === 200, { what: 'the root to be queued' });
    await expect(loop.tick()).rejects.toThrow(/took too long|timed out|timeout/i);
    expect((await admin('GET', '/transactions/usage-root:4')).body.status).toBe('queued');
    proxy.mode.down = false;
    proxy.mode.swallowSends = true; // the node gets the transaction, the answer never comes back
    await loop.tick();
    proxy.mode.swallowSends = false;
    const sends = proxy.mode.sends;
    await settle(async () => (await admin('GET', '/epochs/4')).body.usageStatus === 'committed', 'the root to be committed');
    expect(proxy.mode.sends).toBe(sends); // followed by its hash, not broadcast again
    expect(await protocolNonce()).toBe(nonce + 1);
  });

  it('changes governance parameters by protocol transaction when the key may, with an audit entry', async () => {
    expect((await admin('PUT', '/governance', { appealWindowSeconds: 30 })).status).toBe(403); // no GOVERNANCE_ROLE yet
    expect((await admin('PUT', '/governance', { shares: { ownerBps: 5000, hostBps: 3000, proverBps: 1000, protocolBps: 999 } })).status).toBe(400);
    const protocol = privateKeyToAccount(chain.protocolKey).address;
    for (const address of [chain.addresses.hostCollateral, chain.addresses.rewardsVault]) {
      await mined(
        chain.wallet.writeContract({
          address,
          abi: (await import('@clopen/contracts')).hostCollateralAbi,
          functionName: 'grantRole',
          args: [GOVERNANCE_ROLE, protocol],
          account: chain.account,
          chain: chain.chain,
        }),
      );
    }
    const changed = await admin('PUT', '/governance', { appealWindowSeconds: 30, confirmations: 0, slashBps: 5000 });
    expect(changed.status).toBe(200);
    await settle(async () => (await admin('GET', '/governance')).body.appealWindowSeconds === 30, 'the appeal window to change');
    expect((await admin('GET', '/governance')).body).toMatchObject({ slashBps: 5000, roles: { protocol: true, governance: true } });
    const [entry] = (await admin('GET', '/audit?action=governance.change')).body;
    expect(entry).toMatchObject({ keyId: expect.any(String), before: { appealWindowSeconds: 60 }, after: { appealWindowSeconds: 30 } });
    expect(entry.transactionIds).toHaveLength(1);
  });

  it('answers the lists and lookups in their documented shapes, and names each bad filter', async () => {
    const epochs = await admin('GET', '/epochs?limit=2');
    expect(epochs.status).toBe(200);
    expect(epochs.body.map((e: any) => e.epoch)).toEqual(['4', '3']);
    const confirmed = await admin('GET', '/transactions?status=confirmed');
    expect(confirmed.status).toBe(200);
    expect(confirmed.body.length).toBeGreaterThan(0);
    expect(confirmed.body.every((t: any) => t.status === 'confirmed' && typeof t.settledAt === 'string')).toBe(true);
    const [dismissed] = (await admin('GET', '/slashes?status=dismissed')).body;
    expect((await admin('GET', `/slashes/${dismissed.id}`)).body).toEqual(dismissed);
    expect((await admin('POST', '/epochs/1/allocation/retry')).status).toBe(404); // posted, not failed
    const bad = await admin('GET', '/slashes?status=lost&limit=0');
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toMatch(/status: .*limit: /);
  });
});
