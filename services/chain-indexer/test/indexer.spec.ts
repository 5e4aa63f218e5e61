import type { PublicClient } from 'viem';
import { Bus, decodeEnvelope, stripNamespace, streamMessages, type EventSubject } from '@clopen/bus';
import { clopenContracts, type ClopenAddresses } from '@clopen/contracts';
import type { chainV1 } from '@clopen/proto';
import { createService, type RunningService } from '@clopen/service-kit';
import {
  createTestBusNamespace,
  createTestDatabase,
  deployedChain,
  eventually,
  serviceEnv,
  testInfra,
  type HardhatNode,
  type TestBusNamespace,
  type TestDatabase,
} from '@clopen/testing';
import { chainIndexerService } from '../src/chain-indexer.service';
import { IndexerService, logEventId } from '../src/indexer/indexer.service';

interface Indexer {
  db: TestDatabase;
  ns: TestBusNamespace;
  bus: Bus;
  svc: RunningService<any>;
  indexer: IndexerService;
}

/** What a consumer ends up believing: every published log, minus the ones a later reorg voided, in chain order. */
async function history(bus: Bus) {
  const logs = new Map<string, { id: string; block: bigint; index: number; event: string; args: Record<string, string> }>();
  let reorgs = 0;
  for (const m of await streamMessages(bus, bus.stream('CHAIN'))) {
    const subject = stripNamespace(bus.namespace, m.subject) as EventSubject;
    const { envelope, payload } = decodeEnvelope(m.data, subject);
    if (subject === 'chain.blocks.reorged') {
      reorgs += 1;
      const gone = new Set((payload as chainV1.ChainReorged).abandonedBlockHashes);
      for (const k of [...logs.keys()]) if (gone.has(k.split(':')[0])) logs.delete(k);
      continue;
    }
    const p = payload as chainV1.ContractLogObserved;
    const key = `${p.position!.blockHash}:${p.position!.logIndex}`;
    expect(logs.has(key)).toBe(false); // never twice
    logs.set(key, { id: envelope.id, block: p.position!.blockNumber, index: p.position!.logIndex, event: `${p.contract}.${p.event}`, args: { ...p.args } });
  }
  return { logs: [...logs.values()].sort((a, b) => (a.block === b.block ? a.index - b.index : a.block < b.block ? -1 : 1)), reorgs };
}

/**
 * The chain indexer against a real hardhat node: logs published once each, a restart resumes,
 * and after random reorgs of depth 1..64 (evm_snapshot / evm_revert, then another branch mined)
 * what it published, with its chain.blocks.reorged applied, equals a fresh index of the final chain.
 */
describe('chain-indexer', () => {
  let node: HardhatNode;
  let publicClient: PublicClient;
  let addresses: ClopenAddresses;
  let registerModel: (fee: bigint) => Promise<`0x${string}`>;
  let main: Indexer;
  let contractsEnv: string;

  const start = async (existing?: Pick<Indexer, 'db' | 'ns'>): Promise<Indexer> => {
    const [db, ns] = existing ? [existing.db, existing.ns] : await Promise.all([createTestDatabase(), createTestBusNamespace()]);
    const bus = await Bus.connect({ servers: testInfra.natsUrl, producer: 'test', namespace: ns.namespace });
    await bus.ensureStreams();
    const svc = await createService(chainIndexerService, {
      ...serviceEnv({ db, ns }),
      CHAIN_RPC_URL: node.url,
      CHAIN_CONTRACTS: contractsEnv,
      CHAIN_CONFIRMATIONS: '0',
      CHAIN_BATCH_BLOCKS: '25',
    });
    return { db, ns, bus, svc, indexer: svc.app.get(IndexerService) };
  };
  const stop = async (i: Indexer, drop = true) => {
    await i.svc.close();
    await i.bus.close();
    if (drop) await Promise.allSettled([i.db.drop(), i.ns.cleanup()]);
  };
  /** Steps until caught up, then waits for the outbox to have published everything. */
  const drain = async (i: Indexer) => {
    const outcomes: string[] = [];
    for (let o = await i.indexer.step(); o !== 'idle'; o = await i.indexer.step()) outcomes.push(o);
    await eventually(
      async () => Number((await i.svc.ctx.dataSource!.query('SELECT count(*)::int AS n FROM outbox_messages WHERE published_at IS NULL'))[0].n) === 0,
      { timeoutMs: 20_000, what: 'the outbox to drain' },
    );
    return outcomes;
  };
  const registerModels = async (fees: bigint[]) => {
    for (const fee of fees) await publicClient.waitForTransactionReceipt({ hash: await registerModel(fee) });
  };

  beforeAll(async () => {
    process.env.CHAIN_INDEXER_MANUAL = '1';
    const deployed = await deployedChain();
    ({ node, publicClient, addresses } = deployed);
    const registry = clopenContracts(addresses, { public: publicClient, wallet: deployed.wallet }).modelRegistry;
    registerModel = (fee) => registry.write.registerModel([fee]);
    contractsEnv = deployed.contracts;
    main = await start();
  });
  afterAll(async () => {
    delete process.env.CHAIN_INDEXER_MANUAL;
    if (main) await stop(main);
    await node?.stop();
  });

  it('publishes each log once, under an id made of chain, block hash and log index, and resumes after a restart', async () => {
    await registerModels([1n, 2n, 3n]);
    await drain(main);
    const all = (await history(main.bus)).logs;
    // The deployment's parameter events, then each registration: ERC-721 Transfer (mint) and ModelRegistered; role events are not published.
    expect(all.slice(0, 4).map((l) => l.event)).toEqual([
      'HostCollateral.UnstakeDelaySet',
      'HostCollateral.AppealWindowSet',
      'HostCollateral.ProverBountySet',
      'RewardsVault.SharesSet',
    ]);
    const logs = all.filter((l) => l.event.startsWith('ModelRegistry.'));
    expect(logs.map((l) => l.event)).toEqual([
      'ModelRegistry.Transfer',
      'ModelRegistry.ModelRegistered',
      'ModelRegistry.Transfer',
      'ModelRegistry.ModelRegistered',
      'ModelRegistry.Transfer',
      'ModelRegistry.ModelRegistered',
    ]);
    expect(logs[1].args).toMatchObject({ modelId: '1', feePerRequest: '1' });
    const chainId = await publicClient.getChainId();
    const block = await publicClient.getBlock({ blockNumber: logs[0].block });
    expect(logs[0].id).toBe(logEventId(chainId, block.hash!, logs[0].index));

    // A restart resumes after the last recorded block: nothing again.
    await stop(main, false);
    main = await start(main);
    expect(await drain(main)).toEqual([]);
    expect((await history(main.bus)).logs).toHaveLength(all.length);
  });

  it('after random reorgs of depth 1..64, what it published equals a fresh index of the final chain', async () => {
    let fee = 100n;
    let expectedReorgs = 0;
    for (const depth of [1, 7, 64, 3, 23, 2]) {
      const fork = await node.snapshot();
      await registerModels(Array.from({ length: depth }, () => (fee += 1n)));
      await drain(main); // the doomed branch is indexed (0 confirmations)
      await node.revert(fork);
      // The other branch: other transactions, one block longer.
      await registerModels(Array.from({ length: depth + 1 }, () => (fee += 1n)));
      const outcomes = await drain(main);
      expect(outcomes).toContain('reorged');
      expectedReorgs += 1;
    }
    const published = await history(main.bus);
    expect(published.reorgs).toBe(expectedReorgs);

    const fresh = await start();
    try {
      const outcomes = await drain(fresh);
      expect(outcomes).not.toContain('reorged');
      const reindexed = await history(fresh.bus);
      expect(reindexed.reorgs).toBe(0);
      expect(published.logs).toEqual(reindexed.logs);
      expect(published.logs.length).toBeGreaterThan(10);
    } finally {
      await stop(fresh);
    }
  });
});
