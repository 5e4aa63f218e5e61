/**
 * npm run bench:indexer — the chain indexer against a local hardhat node:
 * - logs_per_s (goal ≥ 5k/s): contract logs read, decoded, recorded and published on JetStream per
 *   second, catching up on a backlog of BENCH_LOGS logs (two per model registration, 500 a block,
 *   read 10 blocks a step: CHAIN_BATCH_BLOCKS is sized to the logs a block carries);
 * - lag_blocks_over_confirmations (goal ≤ 1): under a steady load (a block with transactions every
 *   BENCH_BLOCK_MS), the most blocks the indexer's checkpoint trails the head beyond the configured
 *   confirmations, sampled while its own loop runs.
 * Needs the local PostgreSQL and NATS.
 */
import { encodeFunctionData } from 'viem';
import { Bus } from '@clopen/bus';
import { modelRegistryAbi } from '@clopen/contracts';
import { createService } from '@clopen/service-kit';
import { createTestBusNamespace, createTestDatabase, deployedChain, serviceEnv, testInfra } from '@clopen/testing';
import { chainIndexerService } from '../src/chain-indexer.service';
import { IndexerService } from '../src/indexer/indexer.service';

const LOGS = Number(process.env.BENCH_LOGS ?? 20_000);
const PER_BLOCK = 250; // transactions a block
const CONFIRMATIONS = 2;
const emit = (metric: string, value: number, unit: string) =>
  console.log(JSON.stringify({ bench: 'indexer', metric, value: Math.round(value * 1000) / 1000, unit }));

void (async () => {
  const { node, account, addresses, contracts } = await deployedChain();
  const [db, ns] = await Promise.all([createTestDatabase(), createTestBusNamespace()]);
  const bus = await Bus.connect({ servers: testInfra.natsUrl, producer: 'bench', namespace: ns.namespace });
  try {
    await bus.ensureStreams();
    // Transactions straight to the node (its accounts are unlocked), mined in full blocks.
    const data = (fee: number) => encodeFunctionData({ abi: modelRegistryAbi, functionName: 'registerModel', args: [BigInt(fee)] });
    const send = (fee: number) => node.rpc('eth_sendTransaction', [{ from: account.address, to: addresses.modelRegistry, data: data(fee), gas: '0x30000' }]);
    await node.rpc('evm_setAutomine', [false]);
    const block = async (txs: number) => {
      await Promise.all(Array.from({ length: txs }, (_, i) => send(i + 1)));
      await node.mine(1);
    };
    const tp = Date.now();
    for (let sent = 0; sent < LOGS / 2; sent += PER_BLOCK) await block(Math.min(PER_BLOCK, LOGS / 2 - sent));
    await node.mine(CONFIRMATIONS); // the last backlog block gets its confirmations
    console.error(`backlog: ${LOGS / 2} registrations (${LOGS} logs) mined in ${((Date.now() - tp) / 1000).toFixed(1)} s`);

    const env = {
      ...serviceEnv({ db, ns }),
      LOG_LEVEL: 'warn',
      CHAIN_RPC_URL: node.url,
      CHAIN_CONTRACTS: contracts,
      CHAIN_CONFIRMATIONS: String(CONFIRMATIONS),
      CHAIN_BATCH_BLOCKS: '10',
      CHAIN_POLL_MS: '100',
    };
    const published = async () => {
      const info = await bus.jsm.streams.info(bus.stream('CHAIN'));
      return info.state.messages;
    };

    // 1. Catching up on the backlog, in the indexer's own loop, until JetStream holds every log.
    const before = await published();
    const t0 = process.hrtime.bigint();
    const svc = await createService(chainIndexerService, env);
    const startup = Number(process.hrtime.bigint() - t0) / 1e9;
    const t1 = process.hrtime.bigint();
    for (let i = 0; (await published()) - before < LOGS; i++) {
      if (i % 40 === 39)
        console.error(
          `published ${(await published()) - before}, indexed up to ${(await svc.ctx.dataSource!.query('SELECT max(number)::int AS n FROM indexed_blocks'))[0].n}`,
        );
      await new Promise((r) => setTimeout(r, 50));
    }
    const seconds = Number(process.hrtime.bigint() - t1) / 1e9;
    emit('logs_per_s', LOGS / seconds, 'logs/s');
    console.error(`indexer: ${LOGS} logs in ${seconds.toFixed(2)} s after a ${startup.toFixed(2)} s start`);

    // 2. Steady load: a block of transactions every BENCH_BLOCK_MS; the checkpoint sampled against the head.
    const blockMs = Number(process.env.BENCH_BLOCK_MS ?? 500);
    const indexer = svc.app.get(IndexerService);
    const ds = svc.ctx.dataSource!;
    let worst = 0;
    const until = Date.now() + Number(process.env.BENCH_STEADY_MS ?? 15_000);
    let producing = true;
    const producer = (async () => {
      while (producing) {
        const t = Date.now();
        await block(20);
        await new Promise((r) => setTimeout(r, Math.max(0, blockMs - (Date.now() - t))));
      }
    })();
    while (Date.now() < until) {
      const head = Number(await indexer.client.getBlockNumber());
      const [row] = await ds.query('SELECT max(number)::int AS n FROM indexed_blocks');
      worst = Math.max(worst, head - (row.n ?? 0) - CONFIRMATIONS);
      await new Promise((r) => setTimeout(r, 100));
    }
    producing = false;
    await producer;
    emit('lag_blocks_over_confirmations', Math.max(0, worst), 'blocks');
    console.error(`steady load: a block of 20 registrations every ${blockMs} ms, confirmations ${CONFIRMATIONS}, poll 100 ms`);
    await svc.close();
  } finally {
    await bus.close();
    await Promise.allSettled([db.drop(), ns.cleanup(), node.stop()]);
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
