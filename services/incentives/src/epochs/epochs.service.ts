import { createHash } from 'node:crypto';
import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { getAddress, type Address, type Hex } from 'viem';
import { AllocationTree } from '@clopen/contracts';
import { MerkleTree } from '@clopen/merkle';
import type { accessV1, distributionV1 } from '@clopen/proto';
import { timestampDate } from '@clopen/proto';
import { NotFound } from '@clopen/service-kit';
import { ProtocolChain } from '../chain/protocol-chain';
import { GovernanceParams } from '../governance/governance-params';
import { ArtefactLinks, bytes32 } from '@clopen/model-links';
import type { AllocationEntry, EpochDetail, EpochView } from '../settlement/settlement.contracts';
import { TransactionsService, type SettledTransaction } from '../transactions/transactions.service';
import { allocateEpoch, type ModelEpochUsage } from './allocation';

interface EpochRow {
  epoch: string;
  started_at: Date;
  ended_at: Date;
  totals: { modelId: string; hostAddress: string; requests: string }[];
  allocation_attempt: number;
}

/** The columns of settlement_epochs an epoch is shown with. */
interface SettledEpochRow {
  epoch: string;
  started_at: Date;
  ended_at: Date;
  receipt_root: string;
  receipt_count: string;
  usage_status: EpochView['usageStatus'];
  assignment_root: string | null;
  assignment_status: EpochView['assignmentStatus'];
  allocation_status: EpochView['allocationStatus'];
  allocation_root: string | null;
  allocation_total: string | null;
  error: string | null;
}

const epochOf = (purpose: string) => BigInt(purpose.split(':')[1]);

/**
 * Settles each closed epoch of usage on chain: its receipt root and the assignment commitments
 * (UsageLedger), then its fees (RewardsVault.postAllocation), from access.epoch.closed's totals.
 */
@Injectable()
export class EpochsService implements OnModuleInit {
  private readonly log = new Logger(EpochsService.name);

  constructor(
    private readonly db: DataSource,
    private readonly chain: ProtocolChain,
    private readonly transactions: TransactionsService,
    private readonly links: ArtefactLinks,
    private readonly params: GovernanceParams,
  ) {}

  onModuleInit() {
    this.transactions.onSettled('usage-root', (m, tx) => this.rootSettled(m, tx, 'usage'));
    this.transactions.onSettled('assignment-root', (m, tx) => this.rootSettled(m, tx, 'assignment'));
    this.transactions.onSettled('allocation', (m, tx) => this.allocationSettled(m, tx));
  }

  async assignmentCommitted(manager: EntityManager, event: distributionV1.AssignmentCommitted): Promise<void> {
    await manager.query(
      `INSERT INTO assignment_roots (version_id, pool_id, assignment_root, hosts_committed) VALUES ($1, $2, $3, $4)
       ON CONFLICT (version_id) DO UPDATE SET pool_id = EXCLUDED.pool_id, assignment_root = EXCLUDED.assignment_root,
         hosts_committed = EXCLUDED.hosts_committed, updated_at = now()
       WHERE assignment_roots.hosts_committed <= EXCLUDED.hosts_committed`,
      [event.versionId, event.poolId, event.assignmentRoot, event.hostsCommitted],
    );
  }

  /** Records the epoch and queues its roots; a second delivery of the same epoch changes nothing. */
  async epochClosed(manager: EntityManager, event: accessV1.EpochClosed): Promise<void> {
    const assignments: { version_id: string; assignment_root: string }[] = await manager.query(
      'SELECT version_id, assignment_root FROM assignment_roots ORDER BY version_id',
    );
    // One leaf per version's pool: sha256(0x00 ‖ version id ‖ its assignment root).
    const assignmentRoot = assignments.length
      ? new MerkleTree(
          assignments.map((a) =>
            createHash('sha256')
              .update(Buffer.of(0))
              .update(a.version_id)
              .update(Buffer.from(bytes32(a.assignment_root).slice(2), 'hex'))
              .digest(),
          ),
        ).root
      : null;
    const hasReceipts = event.receiptCount > 0n && /^(0x)?[0-9a-f]{64}$/i.test(event.receiptRoot);
    const totals = event.totals.map((t) => ({
      modelId: t.modelId,
      hostAddress: t.hostAddress,
      userId: t.userId,
      requests: t.requests.toString(),
      tokensIn: t.tokensIn.toString(),
      tokensOut: t.tokensOut.toString(),
    }));
    const inserted: unknown[] = await manager.query(
      `INSERT INTO settlement_epochs (epoch, started_at, ended_at, receipt_root, receipt_count, totals, usage_status, assignment_root, assignment_status)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (epoch) DO NOTHING RETURNING epoch`,
      [
        event.epoch.toString(),
        event.startedAt ? timestampDate(event.startedAt) : new Date(),
        event.endedAt ? timestampDate(event.endedAt) : new Date(),
        event.receiptRoot,
        event.receiptCount.toString(),
        JSON.stringify(totals),
        hasReceipts ? 'committing' : 'empty',
        assignmentRoot,
        assignmentRoot ? 'committing' : 'none',
      ],
    );
    if (!inserted.length) return;
    if (hasReceipts) {
      await this.transactions.enqueue(manager, `usage-root:${event.epoch}`, {
        contract: 'UsageLedger',
        functionName: 'commitUsageRoot',
        args: [event.epoch, bytes32(event.receiptRoot), event.receiptCount],
      });
    }
    if (assignmentRoot) {
      await this.transactions.enqueue(manager, `assignment-root:${event.epoch}`, {
        contract: 'UsageLedger',
        functionName: 'commitAssignmentRoot',
        args: [event.epoch, assignmentRoot],
      });
    }
  }

  private async rootSettled(manager: EntityManager, tx: SettledTransaction, which: 'usage' | 'assignment'): Promise<void> {
    const epoch = epochOf(tx.purpose);
    let status: 'committed' | 'failed' = tx.status === 'confirmed' ? 'committed' : 'failed';
    if (status === 'failed' && tx.error?.name === (which === 'usage' ? 'UsageRootAlreadyWritten' : 'AssignmentRootAlreadyWritten')) {
      // Written before (a restored database, a second deployment): fine if it is the same root.
      const ledger = (await this.chain.contracts()).usageLedger;
      const [row] = await manager.query(`SELECT receipt_root, assignment_root FROM settlement_epochs WHERE epoch = $1`, [epoch.toString()]);
      const onChain = which === 'usage' ? (await ledger.read.usageOf([epoch])).receiptRoot : await ledger.read.assignmentRoot([epoch]);
      if (onChain.toLowerCase() === bytes32(which === 'usage' ? row.receipt_root : row.assignment_root)) status = 'committed';
    }
    await manager.query(`UPDATE settlement_epochs SET ${which}_status = $2, error = coalesce($3, error) WHERE epoch = $1`, [
      epoch.toString(),
      status,
      status === 'failed' ? `${which} root: ${tx.error?.message}` : null,
    ]);
  }

  /** Allocates the fees of every epoch whose usage is settled and whose allocation is due. */
  async schedule(): Promise<void> {
    const due: EpochRow[] = await this.db.query(
      `SELECT epoch, started_at, ended_at, totals, allocation_attempt FROM settlement_epochs
       WHERE allocation_status = 'pending' AND usage_status IN ('committed', 'empty') ORDER BY epoch`,
    );
    for (const epoch of due) await this.allocate(epoch);
  }

  private async allocate(epoch: EpochRow): Promise<void> {
    const { confirmations } = await this.params.get();
    const blockNumber = await this.chain.settledBlock(confirmations);
    const { modelRegistry, rewardsVault } = await this.chain.contracts();
    const shares = await rewardsVault.read.shares({ blockNumber });

    const byModel = new Map<bigint, { hosts: Map<Address, bigint>; provers: Map<Address, bigint>; requests: bigint }>();
    const unlinked = new Set<string>();
    const usage = (m: bigint) => byModel.get(m) ?? byModel.set(m, { hosts: new Map(), provers: new Map(), requests: 0n }).get(m)!;
    for (const t of epoch.totals) {
      const m = await this.links.chainModelOf(t.modelId);
      if (m === undefined) {
        unlinked.add(t.modelId);
        continue;
      }
      const u = usage(m);
      const host = getAddress(t.hostAddress);
      u.hosts.set(host, (u.hosts.get(host) ?? 0n) + BigInt(t.requests));
      u.requests += BigInt(t.requests);
    }
    // Violations proven since the previous epoch ended (since ever, for the first) earn this epoch's provers' share.
    const violations: { model_id: string; prover: string }[] = await this.db.query(
      `SELECT model_id, prover FROM proven_violations
       WHERE proven_at < $2 AND proven_at >= coalesce((SELECT max(ended_at) FROM settlement_epochs WHERE epoch < $1), '-infinity')`,
      [epoch.epoch, epoch.ended_at],
    );
    for (const v of violations) {
      const m = await this.links.chainModelOf(v.model_id);
      if (m === undefined || !byModel.has(m)) continue;
      const provers = byModel.get(m)!.provers;
      const prover = getAddress(v.prover);
      provers.set(prover, (provers.get(prover) ?? 0n) + 1n);
    }

    const models: ModelEpochUsage[] = [];
    for (const [chainModelId, u] of byModel) {
      const [fee, deposited, owner] = await Promise.all([
        modelRegistry.read.feePerRequest([chainModelId], { blockNumber }),
        rewardsVault.read.depositedFor([chainModelId], { blockNumber }),
        modelRegistry.read.ownerOf([chainModelId], { blockNumber }),
      ]);
      const [{ allocated }] = await this.db.query(
        `SELECT coalesce(sum(f.fees), 0)::text AS allocated FROM model_fee_allocations f JOIN settlement_epochs e USING (epoch)
         WHERE f.chain_model_id = $1 AND e.allocation_status IN ('posting', 'posted')`,
        [chainModelId.toString()],
      );
      const available = deposited - BigInt(allocated);
      const cost = fee * u.requests;
      models.push({ chainModelId, owner, fees: cost < available ? cost : available > 0n ? available : 0n, hosts: u.hosts, provers: u.provers });
    }
    const { entries, total } = allocateEpoch(models, shares, this.chain.treasury);
    const note = unlinked.size ? `usage of models not on chain was not charged: ${[...unlinked].join(', ')}` : null;

    await this.db.transaction(async (manager) => {
      const key = epoch.epoch;
      const locked: unknown[] = await manager.query(`SELECT epoch FROM settlement_epochs WHERE epoch = $1 AND allocation_status = 'pending' FOR UPDATE`, [key]);
      if (!locked.length) return;
      if (total === 0n) {
        await manager.query(`UPDATE settlement_epochs SET allocation_status = 'nothing', error = $2 WHERE epoch = $1`, [key, note]);
        return;
      }
      const tree = new AllocationTree(entries.map((e) => ({ account: e.account, amount: e.amount })));
      const attempt = epoch.allocation_attempt + 1;
      await manager.query(`INSERT INTO allocation_entries (epoch, account, amount, parts) SELECT $1, * FROM unnest($2::text[], $3::numeric[], $4::jsonb[])`, [
        key,
        entries.map((e) => e.account),
        entries.map((e) => e.amount.toString()),
        entries.map((e) => JSON.stringify(e.parts)),
      ]);
      for (const m of models.filter((x) => x.fees > 0n)) {
        await manager.query('INSERT INTO model_fee_allocations (epoch, chain_model_id, requests, fees) VALUES ($1, $2, $3, $4)', [
          key,
          m.chainModelId.toString(),
          [...m.hosts.values()].reduce((a, b) => a + b, 0n).toString(),
          m.fees.toString(),
        ]);
      }
      await manager.query(
        `UPDATE settlement_epochs SET allocation_status = 'posting', allocation_attempt = $2, allocation_root = $3, allocation_total = $4, error = $5 WHERE epoch = $1`,
        [key, attempt, tree.root, total.toString(), note],
      );
      await this.transactions.enqueue(manager, `allocation:${key}:${attempt}`, {
        contract: 'RewardsVault',
        functionName: 'postAllocation',
        args: [BigInt(key), tree.root, total],
      });
    });
    this.log.log(`epoch ${epoch.epoch}: allocation of ${total} over ${entries.length} accounts queued`);
  }

  private async allocationSettled(manager: EntityManager, tx: SettledTransaction): Promise<void> {
    const epoch = epochOf(tx.purpose).toString();
    let posted = tx.status === 'confirmed';
    if (!posted && tx.error?.name === 'AllocationAlreadyPosted') {
      const onChain = await (await this.chain.contracts()).rewardsVault.read.allocationOf([BigInt(epoch)]);
      const [row] = await manager.query('SELECT allocation_root FROM settlement_epochs WHERE epoch = $1', [epoch]);
      posted = onChain.root.toLowerCase() === String(row.allocation_root).toLowerCase();
    }
    if (posted) {
      await manager.query(`UPDATE settlement_epochs SET allocation_status = 'posted' WHERE epoch = $1`, [epoch]);
      return;
    }
    // Nothing of the failed allocation stays: the fees remain unallocated for an operator's retry.
    await manager.query('DELETE FROM allocation_entries WHERE epoch = $1', [epoch]);
    await manager.query('DELETE FROM model_fee_allocations WHERE epoch = $1', [epoch]);
    await manager.query(
      `UPDATE settlement_epochs SET allocation_status = 'failed', allocation_root = NULL, allocation_total = NULL, error = $2 WHERE epoch = $1`,
      [epoch, `allocation: ${tx.error?.message}`],
    );
  }

  /** An operator's retry of a failed allocation (after fixing its cause). */
  async retryAllocation(epoch: string, manager: EntityManager = this.db.manager): Promise<void> {
    // TypeORM answers an UPDATE with [rows, affected], so the count says whether it was failed.
    const [, affected]: [unknown[], number] = await manager.query(
      `UPDATE settlement_epochs SET allocation_status = 'pending', error = NULL WHERE epoch = $1 AND allocation_status = 'failed'`,
      [epoch],
    );
    if (!affected) throw new NotFound(`epoch ${epoch} has no failed allocation`);
  }

  async list(limit = 100): Promise<EpochView[]> {
    const rows: SettledEpochRow[] = await this.db.query(`SELECT * FROM settlement_epochs ORDER BY epoch DESC LIMIT $1`, [limit]);
    return rows.map(toEpoch);
  }

  async get(epoch: string): Promise<EpochDetail> {
    const rows: SettledEpochRow[] = await this.db.query('SELECT * FROM settlement_epochs WHERE epoch = $1', [epoch]);
    if (!rows.length) throw new NotFound(`no settled epoch ${epoch}`);
    const entries: AllocationEntry[] = await this.db.query(
      'SELECT account, amount::text AS amount, parts FROM allocation_entries WHERE epoch = $1 ORDER BY account',
      [epoch],
    );
    return { ...toEpoch(rows[0]), allocation: entries };
  }

  /** What an account may claim, epoch by epoch, with the proof RewardsVault.claim takes. */
  async claims(account: Address) {
    const rows: { epoch: string; amount: string }[] = await this.db.query(
      `SELECT a.epoch::text AS epoch, a.amount::text AS amount FROM allocation_entries a JOIN settlement_epochs e USING (epoch)
       WHERE lower(a.account) = lower($1) AND e.allocation_status = 'posted' ORDER BY a.epoch`,
      [account],
    );
    if (!rows.length) return [];
    const { rewardsVault } = await this.chain.contracts();
    return Promise.all(
      rows.map(async (r) => {
        const all: { account: Address; amount: string }[] = await this.db.query(
          'SELECT account, amount::text AS amount FROM allocation_entries WHERE epoch = $1',
          [r.epoch],
        );
        const tree = new AllocationTree(all.map((e) => ({ account: e.account, amount: BigInt(e.amount) })));
        const claimed = await rewardsVault.read.claimed([BigInt(r.epoch), account]);
        return { epoch: r.epoch, account, amount: r.amount, proof: tree.proof(account) as Hex[], claimed };
      }),
    );
  }
}

function toEpoch(r: SettledEpochRow): EpochView {
  return {
    epoch: String(r.epoch),
    startedAt: r.started_at,
    endedAt: r.ended_at,
    receiptRoot: r.receipt_root,
    receiptCount: String(r.receipt_count),
    usageStatus: r.usage_status,
    assignmentRoot: r.assignment_root,
    assignmentStatus: r.assignment_status,
    allocationStatus: r.allocation_status,
    allocationRoot: r.allocation_root,
    allocationTotal: r.allocation_total === null ? null : String(r.allocation_total),
    error: r.error,
  };
}
