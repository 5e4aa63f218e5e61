import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import {
  BaseError,
  TransactionNotFoundError,
  TransactionReceiptNotFoundError,
  encodeFunctionData,
  keccak256,
  parseGwei,
  type Abi,
  type Hex,
  type TransactionReceipt,
} from 'viem';
import { contractRevert, hostCollateralAbi, modelRegistryAbi, rewardsVaultAbi, usageLedgerAbi, type ClopenContractName } from '@clopen/contracts';
import { CONFIG, Metrics, NotFound } from '@clopen/service-kit';
import type { IncentivesConfig } from '../incentives.settings';
import { ProtocolChain } from '../chain/protocol-chain';
import { GovernanceParams } from '../governance/governance-params';
import type { TransactionSummary, TransactionView } from '../settlement/settlement.contracts';

const ABIS: Record<ClopenContractName, Abi> = {
  ModelRegistry: modelRegistryAbi,
  HostCollateral: hostCollateralAbi,
  UsageLedger: usageLedgerAbi,
  RewardsVault: rewardsVaultAbi,
};

/** A protocol transaction to send: a write on a Clopen contract. */
export interface ProtocolCall {
  contract: ClopenContractName;
  functionName: string;
  args: readonly unknown[];
}

export interface SettledTransaction {
  id: string;
  purpose: string;
  status: 'confirmed' | 'reverted' | 'failed';
  /** Set when the transaction was mined (confirmed, or reverted on chain). */
  receipt?: TransactionReceipt;
  /** Why it reverted or failed: the contract's custom error where there is one. */
  error?: { name: string; message: string; args?: readonly unknown[] };
}

/** Runs in the transaction that settles the protocol transaction, so the business state and the settlement commit together. */
export type SettlementHook = (manager: EntityManager, tx: SettledTransaction) => Promise<void>;

interface TransactionRow {
  id: string;
  purpose: string;
  to_address: Hex;
  data: Hex;
  status: string;
  nonce: string | null;
  gas: string | null;
  max_fee_per_gas: string | null;
  max_priority_fee_per_gas: string | null;
  raw: Hex | null;
  hashes: Hex[];
  missing_rounds: number;
  last_broadcast_at: Date | null;
}

const json = (value: unknown) => JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
/** pg_advisory_lock key of the sender: one sender at a time per database, whatever the replicas. */
const SENDER_LOCK = 0x636c6f70656e;

/**
 * The protocol key's outbox. A business step enqueues its transaction in its own database
 * transaction (one row per `purpose`, so a step is never sent twice); `step()` then
 * - simulates a queued call first: a revert settles it as `reverted` with the contract's error and
 *   spends no nonce;
 * - signs it locally with the next nonce and stores the raw transaction before it broadcasts it,
 *   so a crash, a timed-out RPC or a node that dropped it leads to the same bytes being sent again,
 *   never to a second transaction;
 * - re-signs a transaction left unmined for TX_BUMP_AFTER_SECONDS with the same nonce and higher
 *   fees (whichever of its hashes is mined settles it);
 * - settles it once its block has the governance `confirmations`, running the purpose's hook in
 *   the same database transaction.
 */
@Injectable()
export class TransactionsService {
  private readonly log = new Logger(TransactionsService.name);
  private readonly hooks = new Map<string, SettlementHook>();
  private readonly settled;
  /** Contract addresses seen to hold code: a call to an address without code would "succeed" and change nothing. */
  private readonly deployed = new Set<string>();

  constructor(
    private readonly db: DataSource,
    private readonly chain: ProtocolChain,
    private readonly params: GovernanceParams,
    private readonly metrics: Metrics,
    @Inject(CONFIG) private readonly config: IncentivesConfig,
  ) {
    this.settled = metrics.counter('incentives_transactions_total', 'Protocol transactions settled, by outcome (confirmed, reverted, failed).', ['outcome']);
  }

  /** `purpose` is `<kind>:<key>`; the hook registered for the kind runs when it settles. */
  onSettled(kind: string, hook: SettlementHook): void {
    this.hooks.set(kind, hook);
  }

  /** Queues a transaction in the caller's database transaction; false when this purpose was queued before. */
  async enqueue(manager: EntityManager, purpose: string, call: ProtocolCall): Promise<boolean> {
    if (!this.hooks.has(purpose.split(':')[0])) throw new Error(`no settlement hook for "${purpose}"`);
    const data = encodeFunctionData({ abi: ABIS[call.contract], functionName: call.functionName, args: call.args } as never);
    const rows: unknown[] = await manager.query(
      `INSERT INTO protocol_transactions (purpose, contract, function_name, args, to_address, data)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (purpose) DO NOTHING RETURNING id`,
      [purpose, call.contract, call.functionName, json(call.args), this.chain.address(call.contract), data],
    );
    return rows.length > 0;
  }

  /** One round: follow what is in flight, then send what is queued. Replicas take turns (advisory lock). */
  async step(): Promise<void> {
    const runner = this.db.createQueryRunner();
    await runner.connect();
    try {
      const [{ locked }] = await runner.query('SELECT pg_try_advisory_lock($1) AS locked', [SENDER_LOCK]);
      if (!locked) return;
      try {
        const { confirmations } = await this.params.get();
        const head = await this.chain.client.getBlockNumber();
        const inFlight: TransactionRow[] = await this.db.query(`SELECT * FROM protocol_transactions WHERE status = 'sent' ORDER BY nonce`);
        for (const tx of inFlight) await this.follow(tx, head, confirmations);
        const open = Number((await this.db.query(`SELECT count(*)::int AS n FROM protocol_transactions WHERE status = 'sent'`))[0].n);
        const room = this.config.TX_MAX_IN_FLIGHT - open;
        if (room <= 0) return;
        const queued: TransactionRow[] = await this.db.query(`SELECT * FROM protocol_transactions WHERE status = 'queued' ORDER BY created_at, id LIMIT $1`, [
          room,
        ]);
        for (const tx of queued) await this.send(tx);
      } finally {
        await runner.query('SELECT pg_advisory_unlock($1)', [SENDER_LOCK]);
      }
    } finally {
      await runner.release();
    }
  }

  async list(status?: string, limit = 100): Promise<TransactionSummary[]> {
    return this.db.query(
      `SELECT id, purpose, contract, function_name AS "functionName", args, status, nonce, hashes, mined_hash AS "minedHash",
              block_number AS "blockNumber", error_name AS "errorName", error, created_at AS "createdAt", settled_at AS "settledAt"
       FROM protocol_transactions WHERE ($1::text IS NULL OR status = $1) ORDER BY created_at DESC LIMIT $2`,
      [status ?? null, limit],
    );
  }

  async get(id: string): Promise<TransactionView> {
    const rows: TransactionView[] = await this.db.query(
      `SELECT id, purpose, contract, function_name AS "functionName", args, status, nonce, gas, max_fee_per_gas AS "maxFeePerGas",
              max_priority_fee_per_gas AS "maxPriorityFeePerGas", hashes, mined_hash AS "minedHash", block_number AS "blockNumber",
              gas_used AS "gasUsed", error_name AS "errorName", error, created_at AS "createdAt", sent_at AS "sentAt", settled_at AS "settledAt"
       FROM protocol_transactions WHERE id::text = $1 OR purpose = $1`,
      [id],
    );
    if (!rows.length) throw new NotFound(`no protocol transaction ${id}`);
    return rows[0];
  }

  private async send(tx: TransactionRow): Promise<void> {
    const { client, account } = this.chain;
    if (!this.deployed.has(tx.to_address)) {
      const code = await client.getCode({ address: tx.to_address });
      if (!code || code === '0x') {
        await this.settle(tx, {
          status: 'failed',
          error: { name: 'NoContract', message: `${tx.purpose}: there is no contract at ${tx.to_address}; check CHAIN_CONTRACTS and CHAIN_RPC_URL` },
        });
        return;
      }
      this.deployed.add(tx.to_address);
    }
    try {
      await client.call({ account: account.address, to: tx.to_address, data: tx.data });
    } catch (err) {
      const revert = contractRevert(err);
      if (!revert) throw err; // the RPC failed, not the call: try again next round
      await this.settle(tx, {
        status: 'reverted',
        error: { name: revert.name, message: `${tx.purpose} would revert: ${revert.name}(${revert.args.map(String).join(', ')})`, args: revert.args },
      });
      return;
    }
    const gas = ((await client.estimateGas({ account: account.address, to: tx.to_address, data: tx.data })) * 12n) / 10n;
    const fees = await client.estimateFeesPerGas();
    const cap = parseGwei(String(this.config.TX_MAX_FEE_GWEI));
    const maxFeePerGas = fees.maxFeePerGas > cap ? cap : fees.maxFeePerGas;
    const maxPriorityFeePerGas = fees.maxPriorityFeePerGas > maxFeePerGas ? maxFeePerGas : fees.maxPriorityFeePerGas;
    const chainNonce = await client.getTransactionCount({ address: account.address, blockTag: 'pending' });
    // In-flight transactions hold the nonces above the chain's count; the chain is the truth for the rest.
    const [{ next }] = await this.db.query(`SELECT coalesce(max(nonce) + 1, 0)::text AS next FROM protocol_transactions WHERE status = 'sent'`);
    const nonce = Math.max(chainNonce, Number(next));
    const raw = await account.signTransaction({
      chainId: await this.chain.chainId(),
      type: 'eip1559',
      to: tx.to_address,
      data: tx.data,
      nonce,
      gas,
      maxFeePerGas,
      maxPriorityFeePerGas,
    });
    const hash = keccak256(raw);
    // Stored before it is broadcast: whatever happens next, these bytes are what gets (re)sent.
    const updated: unknown[] = await this.db.query(
      `UPDATE protocol_transactions SET status = 'sent', nonce = $2, gas = $3, max_fee_per_gas = $4, max_priority_fee_per_gas = $5,
              raw = $6, hashes = ARRAY[$7], sent_at = now(), last_broadcast_at = now()
       WHERE id = $1 AND status = 'queued' RETURNING id`,
      [tx.id, nonce, gas.toString(), maxFeePerGas.toString(), maxPriorityFeePerGas.toString(), raw, hash],
    );
    if (!updated.length) return;
    this.log.log(`sent ${tx.purpose} as ${hash} (nonce ${nonce})`);
    await this.broadcast(raw, tx.purpose);
  }

  private async follow(tx: TransactionRow, head: bigint, confirmations: number): Promise<void> {
    const { client, account } = this.chain;
    for (const hash of [...tx.hashes].reverse()) {
      const receipt = await client.getTransactionReceipt({ hash }).catch((err: unknown) => {
        if (err instanceof TransactionReceiptNotFoundError) return undefined;
        throw err;
      });
      if (!receipt) continue;
      if (head - receipt.blockNumber + 1n < BigInt(Math.max(confirmations, 1))) return; // mined, not yet confirmed
      if (receipt.status === 'success') await this.settle(tx, { status: 'confirmed', receipt });
      else
        await this.settle(tx, {
          status: 'reverted',
          receipt,
          error: { name: 'Reverted', message: `${tx.purpose} reverted on chain in block ${receipt.blockNumber} (${hash})` },
        });
      return;
    }
    const nonce = Number(tx.nonce);
    const mined = await client.getTransactionCount({ address: account.address, blockTag: 'latest' });
    if (mined > nonce) {
      // The nonce is spent, yet none of our hashes has a receipt: a node still indexing, or a
      // transaction this service did not send. Give the node a few rounds before calling it.
      if (tx.missing_rounds + 1 >= 5) {
        await this.settle(tx, {
          status: 'failed',
          error: {
            name: 'NonceTaken',
            message: `nonce ${nonce} was used by a transaction other than ${tx.hashes.join(', ')}: is the protocol key used elsewhere?`,
          },
        });
      } else {
        await this.db.query('UPDATE protocol_transactions SET missing_rounds = missing_rounds + 1 WHERE id = $1', [tx.id]);
      }
      return;
    }
    const waited = tx.last_broadcast_at ? (Date.now() - new Date(tx.last_broadcast_at).getTime()) / 1000 : Infinity;
    if (waited >= this.config.TX_BUMP_AFTER_SECONDS) {
      await this.bump(tx, nonce);
      return;
    }
    const known = await client.getTransaction({ hash: tx.hashes[tx.hashes.length - 1] }).catch((err: unknown) => {
      if (err instanceof TransactionNotFoundError) return undefined;
      throw err;
    });
    if (!known) {
      this.log.warn(`${tx.purpose}: the node no longer knows ${tx.hashes[tx.hashes.length - 1]}; broadcasting it again`);
      await this.broadcast(tx.raw!, tx.purpose);
    }
  }

  /** Same nonce, same call, higher fees: the node replaces the pending transaction. */
  private async bump(tx: TransactionRow, nonce: number): Promise<void> {
    const { client, account } = this.chain;
    const cap = parseGwei(String(this.config.TX_MAX_FEE_GWEI));
    const factor = BigInt(100 + this.config.TX_FEE_BUMP_PERCENT);
    const fees = await client.estimateFeesPerGas();
    const raise = (old: bigint, now: bigint) => {
      const bumped = (old * factor + 99n) / 100n;
      return bumped > now ? bumped : now;
    };
    let maxFeePerGas = raise(BigInt(tx.max_fee_per_gas!), fees.maxFeePerGas);
    let maxPriorityFeePerGas = raise(BigInt(tx.max_priority_fee_per_gas!), fees.maxPriorityFeePerGas);
    if (maxFeePerGas > cap) maxFeePerGas = cap;
    if (maxPriorityFeePerGas > maxFeePerGas) maxPriorityFeePerGas = maxFeePerGas;
    if (maxFeePerGas <= BigInt(tx.max_fee_per_gas!)) {
      this.log.warn(`${tx.purpose}: fees at the TX_MAX_FEE_GWEI cap; broadcasting it again unchanged`);
      await this.db.query('UPDATE protocol_transactions SET last_broadcast_at = now() WHERE id = $1', [tx.id]);
      await this.broadcast(tx.raw!, tx.purpose);
      return;
    }
    const raw = await account.signTransaction({
      chainId: await this.chain.chainId(),
      type: 'eip1559',
      to: tx.to_address,
      data: tx.data,
      nonce,
      gas: BigInt(tx.gas!),
      maxFeePerGas,
      maxPriorityFeePerGas,
    });
    const hash = keccak256(raw);
    await this.db.query(
      `UPDATE protocol_transactions SET raw = $2, hashes = array_append(hashes, $3), max_fee_per_gas = $4, max_priority_fee_per_gas = $5, last_broadcast_at = now()
       WHERE id = $1 AND status = 'sent'`,
      [tx.id, raw, hash, maxFeePerGas.toString(), maxPriorityFeePerGas.toString()],
    );
    this.log.warn(`${tx.purpose}: unmined after ${this.config.TX_BUMP_AFTER_SECONDS}s; replaced by ${hash} at ${maxFeePerGas} wei/gas`);
    await this.broadcast(raw, tx.purpose);
  }

  /** A failed broadcast is only logged: the transaction is stored, and the next round finds out whether it arrived. */
  private async broadcast(raw: Hex, purpose: string): Promise<void> {
    try {
      await this.chain.client.sendRawTransaction({ serializedTransaction: raw });
    } catch (err) {
      const message = err instanceof BaseError ? err.shortMessage : (err as Error).message;
      this.log.warn(`${purpose}: broadcast failed (${message}); following it up next round`);
    }
  }

  private async settle(tx: TransactionRow, outcome: Omit<SettledTransaction, 'id' | 'purpose'>): Promise<void> {
    const settled: SettledTransaction = { id: tx.id, purpose: tx.purpose, ...outcome };
    const hook = this.hooks.get(tx.purpose.split(':')[0]);
    await this.db.transaction(async (manager) => {
      const rows: unknown[] = await manager.query(
        `UPDATE protocol_transactions SET status = $2, mined_hash = $3, block_number = $4, gas_used = $5, error_name = $6, error = $7, settled_at = now()
         WHERE id = $1 AND status IN ('queued', 'sent') RETURNING id`,
        [
          tx.id,
          settled.status,
          settled.receipt?.transactionHash ?? null,
          settled.receipt?.blockNumber?.toString() ?? null,
          settled.receipt?.gasUsed?.toString() ?? null,
          settled.error?.name ?? null,
          settled.error?.message ?? null,
        ],
      );
      if (rows.length && hook) await hook(manager, settled);
    });
    this.settled.inc({ outcome: settled.status });
    if (settled.status === 'confirmed') this.log.log(`${tx.purpose} confirmed in ${settled.receipt!.transactionHash}`);
    else this.log.warn(`${tx.purpose} ${settled.status}: ${settled.error?.message}`);
  }
}
