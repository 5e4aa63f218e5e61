import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { DataSource, type EntityManager } from 'typeorm';
import { createPublicClient, decodeEventLog, getAddress, http, type Address, type Block, type Log, type PublicClient } from 'viem';
import { Outbox } from '@clopen/bus';
import { CONFIG, Metrics } from '@clopen/service-kit';
import type { ChainIndexerConfig } from '../chain-indexer.settings';
import { CONTRACTS, argText, subjectOf, type ContractName } from './contracts';
import { IndexedBlock } from './indexed-block.entity';

export type StepOutcome = 'idle' | 'indexed' | 'reorged' | 'moved';

/** A deeper reorg than CHAIN_REORG_WINDOW: the indexer cannot tell what it published on the abandoned chain. */
export class ReorgTooDeep extends Error {}

/**
 * The id of a log's event, the same however often it is indexed: the envelope id (a UUID made
 * from sha256 of chain id, block hash and log index), hence the Nats-Msg-Id JetStream de-duplicates
 * on and the id consumers' processed-message tables key on. The same log in another block after a
 * reorg is another occurrence with another id.
 */
export function logEventId(chainId: number | bigint, blockHash: string, logIndex: number): string {
  const h = createHash('sha256').update(`${chainId}:${blockHash.toLowerCase()}:${logIndex}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((parseInt(h[16], 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * Reads the contracts' logs a range of blocks at a time, once they have CHAIN_CONFIRMATIONS, and
 * publishes each through the outbox in the same transaction that records its block: a log is
 * published once, a restart resumes at the block after the last recorded one. Before each range,
 * the last recorded block is compared with the chain's block at that height (and the range's first
 * block must name it as parent); a mismatch is a reorg: the recorded blocks back to the last one
 * both chains share are dropped, `chain.blocks.reorged` says which, and indexing resumes from there.
 * One replica works at a time (an advisory lock per step).
 */
@Injectable()
export class IndexerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger(IndexerService.name);
  readonly client: PublicClient;
  private readonly byAddress: Map<Address, ContractName>;
  private chainId?: number;
  /** Blocks per step: CHAIN_BATCH_BLOCKS, halved while the node refuses a range as too large, grown back after. */
  private span: bigint;
  /** The smallest span the node refused: growing back stops below it. */
  private ceiling: bigint;
  private stopping = false;
  private loop?: Promise<void>;

  constructor(
    private readonly db: DataSource,
    private readonly outbox: Outbox,
    private readonly metrics: Metrics,
    @Inject(CONFIG) private readonly config: ChainIndexerConfig,
  ) {
    // cacheTime 0: viem otherwise answers getBlockNumber from a 4 s cache, and a step would miss the head.
    this.client = createPublicClient({ cacheTime: 0, transport: http(config.CHAIN_RPC_URL, { batch: true, retryCount: 2, timeout: 30_000 }) });
    this.span = BigInt(config.CHAIN_BATCH_BLOCKS);
    this.ceiling = this.span + 1n;
    this.byAddress = new Map([...config.CHAIN_CONTRACTS].map(([name, address]) => [getAddress(address), name]));
  }

  onApplicationBootstrap() {
    if (process.env.CHAIN_INDEXER_MANUAL === '1') return; // tests drive step() themselves
    this.loop = this.run();
  }

  async onApplicationShutdown() {
    this.stopping = true;
    await this.loop;
  }

  private async run() {
    while (!this.stopping) {
      let outcome: StepOutcome = 'idle';
      try {
        outcome = await this.step();
      } catch (e) {
        this.log.error(`indexing step failed: ${(e as Error).message}`);
      }
      if (outcome === 'idle') await new Promise((r) => setTimeout(r, this.config.CHAIN_POLL_MS));
    }
  }

  /** One range of blocks (or one reorg): what happened. */
  async step(): Promise<StepOutcome> {
    let result: { outcome: StepOutcome; published: number };
    try {
      result = await this.stepInTransaction();
    } catch (e) {
      // Providers cap a response (viem at 10 MiB, many RPCs at 10k logs): read fewer blocks at once.
      if (this.span > 1n && /size limit|more than \d+ results|query returned more than|response size|too many/i.test((e as Error).message)) {
        this.ceiling = this.span;
        this.span /= 2n;
        this.log.warn(`the node refused ${this.span * 2n} blocks at once (${(e as Error).message.split('\n')[0]}); reading ${this.span}`);
        return 'moved';
      }
      this.metrics.counter('chain_index_step_failures_total', 'Indexing steps that failed (RPC or database); the step is retried.', []).inc();
      throw e;
    }
    const { outcome, published } = result;
    if (outcome === 'indexed' && this.span + 1n < this.ceiling) this.span += 1n;
    if (published) this.metrics.counter('chain_logs_published_total', 'Contract logs published on JetStream (through the outbox).', []).inc(published);
    if (outcome === 'reorged') this.metrics.counter('chain_reorgs_total', 'Reorgs that replaced published blocks.', []).inc();
    return outcome;
  }

  private async stepInTransaction(): Promise<{ outcome: StepOutcome; published: number }> {
    const done = (outcome: StepOutcome, published = 0) => ({ outcome, published });
    this.chainId ??= await this.client.getChainId();
    const chainId = String(this.chainId);
    const head = await this.client.getBlockNumber();
    const safe = head - BigInt(this.config.CHAIN_CONFIRMATIONS);
    return this.db.transaction(async (m) => {
      const [{ locked }] = await m.query("SELECT pg_try_advisory_xact_lock(hashtext('chain-indexer:' || $1)) AS locked", [chainId]);
      if (!locked) return done('idle');
      const last = await m.getRepository(IndexedBlock).findOne({ where: { chainId }, order: { number: 'DESC' } });
      if (last) {
        const onChain = await this.blockAt(BigInt(last.number));
        if (!onChain || onChain.hash !== last.hash) return done(await this.rollBack(m, chainId));
      }
      const from = last ? BigInt(last.number) + 1n : BigInt(this.config.CHAIN_START_BLOCK);
      if (from > safe) return done('idle');
      const to = safe < from + this.span - 1n ? safe : from + this.span - 1n;
      const blocks = await Promise.all(Array.from({ length: Number(to - from) + 1 }, (_, i) => this.blockAt(from + BigInt(i))));
      // The range must be one chain that continues the recorded one; otherwise it moved while read.
      if (blocks.some((b) => !b)) return done('moved');
      if (last && blocks[0]!.parentHash !== last.hash) return done(await this.rollBack(m, chainId));
      for (let i = 1; i < blocks.length; i += 1) if (blocks[i]!.parentHash !== blocks[i - 1]!.hash) return done('moved');
      const logs = await this.client.getLogs({ address: [...this.byAddress.keys()], fromBlock: from, toBlock: to });
      const hashAt = (n: bigint) => blocks[Number(n - from)]!.hash;
      if (logs.some((l) => l.blockNumber === null || l.blockHash !== hashAt(l.blockNumber))) return done('moved');

      const perBlock = new Map<bigint, number>();
      logs.sort((a, b) => (a.blockNumber! === b.blockNumber! ? a.logIndex! - b.logIndex! : a.blockNumber! < b.blockNumber! ? -1 : 1));
      const events = logs.map((l) => this.event(l)).filter((e): e is NonNullable<typeof e> => e !== null);
      for (const e of events) perBlock.set(e.block, (perBlock.get(e.block) ?? 0) + 1);
      await this.outbox.enqueueMany(m, events);
      await m
        .createQueryBuilder()
        .insert()
        .into(IndexedBlock)
        .values(blocks.map((b) => ({ chainId, number: String(b!.number), hash: b!.hash!, parentHash: b!.parentHash, logs: perBlock.get(b!.number!) ?? 0 })))
        .execute();
      await m.query('DELETE FROM indexed_blocks WHERE chain_id = $1 AND number < $2', [chainId, String(to - BigInt(this.config.CHAIN_REORG_WINDOW))]);
      return done(
        'indexed',
        [...perBlock.values()].reduce((a, b) => a + b, 0),
      );
    });
  }

  /** The event of one log, or null when it is not one the platform publishes. */
  private event(l: Log) {
    const contract = this.byAddress.get(getAddress(l.address));
    if (!contract) return null;
    let decoded: { eventName: string; args: unknown };
    try {
      decoded = decodeEventLog({ abi: CONTRACTS[contract].abi, data: l.data, topics: l.topics }) as typeof decoded;
    } catch {
      this.log.warn(`a log of ${contract} at ${l.blockHash}:${l.logIndex} does not decode with its ABI; skipped`);
      return null;
    }
    const subject = subjectOf(contract, decoded.eventName);
    if (!subject) return null;
    const args = Object.fromEntries(Object.entries((decoded.args ?? {}) as Record<string, unknown>).map(([k, v]) => [k, argText(v)]));
    return {
      block: l.blockNumber!,
      subject,
      payload: {
        position: {
          chainId: BigInt(this.chainId!),
          blockNumber: l.blockNumber!,
          blockHash: l.blockHash!,
          transactionHash: l.transactionHash!,
          logIndex: l.logIndex!,
          address: getAddress(l.address),
        },
        contract,
        event: decoded.eventName,
        args,
      } as never,
      ctx: { id: logEventId(this.chainId!, l.blockHash!, l.logIndex!) },
    };
  }

  /** Drops the recorded blocks the chain abandoned, back to the last one it still has, and says so. */
  private async rollBack(m: EntityManager, chainId: string): Promise<StepOutcome> {
    const recorded = await m.getRepository(IndexedBlock).find({ where: { chainId }, order: { number: 'DESC' } });
    const abandoned: IndexedBlock[] = [];
    let ancestor: IndexedBlock | undefined;
    for (const b of recorded) {
      const onChain = await this.blockAt(BigInt(b.number));
      if (onChain && onChain.hash === b.hash) {
        ancestor = b;
        break;
      }
      abandoned.push(b);
    }
    if (!ancestor && recorded.length && BigInt(recorded[recorded.length - 1].number) > BigInt(this.config.CHAIN_START_BLOCK)) {
      throw new ReorgTooDeep(`the chain replaced every one of the last ${recorded.length} recorded blocks (CHAIN_REORG_WINDOW); re-index from a known block`);
    }
    const commonAncestor = ancestor ? BigInt(ancestor.number) : BigInt(this.config.CHAIN_START_BLOCK) - 1n;
    await m.query('DELETE FROM indexed_blocks WHERE chain_id = $1 AND number > $2', [chainId, String(commonAncestor)]);
    const fromBlock = commonAncestor + 1n;
    const toBlock = BigInt(abandoned[0].number);
    await this.outbox.enqueue(m, 'chain.blocks.reorged', {
      chainId: BigInt(chainId),
      fromBlock,
      toBlock,
      abandonedBlockHashes: abandoned.map((b) => b.hash).reverse(),
      commonAncestor: commonAncestor < 0n ? 0n : commonAncestor,
    });
    this.log.warn(
      `reorg: blocks ${fromBlock}..${toBlock} were replaced (${abandoned.reduce((n, b) => n + b.logs, 0)} published logs void); re-indexing from ${fromBlock}`,
    );
    return 'reorged';
  }

  private async blockAt(n: bigint): Promise<Block | null> {
    if (n < 0n) return null;
    return this.client.getBlock({ blockNumber: n }).catch((e: Error) => {
      if (/not found|could not be found|BlockNotFound/i.test(e.message) || e.name === 'BlockNotFoundError') return null;
      throw e;
    });
  }
}
