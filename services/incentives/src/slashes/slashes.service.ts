import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { encodePacked, getAddress, isAddress, keccak256, parseEventLogs, type Address, type Hex } from 'viem';
import { hostCollateralAbi } from '@clopen/contracts';
import type { accessV1, chainV1 } from '@clopen/proto';
import { Conflict, NotFound } from '@clopen/service-kit';
import { ProtocolChain } from '../chain/protocol-chain';
import { GovernanceParams } from '../governance/governance-params';
import { ArtefactLinks, bytes32 } from '@clopen/model-links';
import type { SlashView } from '../settlement/settlement.contracts';
import { TransactionsService, type SettledTransaction } from '../transactions/transactions.service';

/** HostCollateral.SlashStatus */
const ON_CHAIN = ['None', 'Proposed', 'Appealed', 'Upheld', 'Dismissed', 'Executed'] as const;

interface SlashRow {
  id: string;
  violation_id: string;
  host_address: Address;
  role: string;
  prover: Address;
  evidence_hash: Hex;
  model_id: string;
  chain_model_id: string | null;
  amount: string | null;
  chain_slash_id: string | null;
  appeal_deadline: Date | null;
  status: SlashView['status'];
  attempt: number;
  prover_bounty: string | null;
  owner_share: string | null;
  note: string | null;
  created_at: Date;
  updated_at: Date;
}

/** A slash as it is shown: with its violation's kind. */
type ShownSlashRow = SlashRow & { kind: string };

/** One slash per (evidence, host): the contract refuses a second use of the hash. */
export function slashEvidenceHash(evidenceSha256: string, host: Address): Hex {
  return keccak256(encodePacked(['bytes32', 'address'], [bytes32(evidenceSha256), host]));
}

const slashIdOf = (purpose: string) => purpose.split(':')[1];

/**
 * Proven violations become slashes: proposed on HostCollateral for every accused host with stake,
 * executed once the appeal window has passed on the chain's clock unless the host appealed, in
 * which case an operator resolves the appeal (upheld: executed; dismissed: the stake returns).
 */
@Injectable()
export class SlashesService implements OnModuleInit {
  private readonly log = new Logger(SlashesService.name);

  constructor(
    private readonly db: DataSource,
    private readonly chain: ProtocolChain,
    private readonly transactions: TransactionsService,
    private readonly links: ArtefactLinks,
    private readonly params: GovernanceParams,
  ) {}

  onModuleInit() {
    this.transactions.onSettled('slash-propose', (m, tx) => this.proposeSettled(m, tx));
    this.transactions.onSettled('slash-execute', (m, tx) => this.executeSettled(m, tx));
    this.transactions.onSettled('slash-resolve', (m, tx) => this.resolveSettled(m, tx));
  }

  /** Records the violation and a pending slash per accused host; the same violation twice changes nothing. */
  async violationProven(manager: EntityManager, event: accessV1.ViolationProven, provenAt: Date): Promise<void> {
    if (!isAddress(event.prover) || !/^(0x)?[0-9a-f]{64}$/i.test(event.evidenceSha256)) {
      throw new Error(`violation ${event.violationId} has no prover address or evidence hash; it cannot be slashed`);
    }
    await manager.query(
      `INSERT INTO proven_violations (violation_id, model_id, prover, kind, evidence_sha256, proven_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (violation_id) DO NOTHING`,
      [event.violationId, event.modelId, getAddress(event.prover), event.kind, event.evidenceSha256, provenAt],
    );
    for (const accused of event.accused) {
      if (!isAddress(accused.hostAddress)) continue;
      const host = getAddress(accused.hostAddress);
      await manager.query(`INSERT INTO slashes (violation_id, host_address, role, prover, evidence_hash) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, [
        event.violationId,
        host,
        accused.role,
        getAddress(event.prover),
        slashEvidenceHash(event.evidenceSha256, host),
      ]);
    }
  }

  /** The host appealed on chain (seen by the indexer): the slash waits for an operator. */
  async appealed(manager: EntityManager, log: chainV1.ContractLogObserved): Promise<void> {
    await manager.query(`UPDATE slashes SET status = 'appealed', updated_at = now() WHERE chain_slash_id = $1 AND status IN ('proposed', 'executing')`, [
      log.args.slashId,
    ]);
  }

  /** One round: propose the pending slashes, execute those whose window has passed. */
  async schedule(): Promise<void> {
    const open: (SlashRow & { model_id: string })[] = await this.db.query(
      `SELECT s.*, v.model_id FROM slashes s JOIN proven_violations v USING (violation_id)
       WHERE s.status IN ('pending', 'proposed', 'upheld') ORDER BY s.created_at`,
    );
    if (!open.length) return;
    const { hostCollateral } = await this.chain.contracts();
    const { confirmations, slashBps } = await this.params.get();
    const blockNumber = await this.chain.settledBlock(confirmations);
    const now = await this.chain.now();
    for (const s of open) {
      if (s.status === 'pending') {
        const model = await this.links.chainModelOf(s.model_id);
        if (model === undefined) {
          await this.note(s.id, `model ${s.model_id} is not linked to a chain model yet (ModelRegistry.publishVersion with its manifest hash)`);
          continue;
        }
        const stake = await hostCollateral.read.stakeOf([s.host_address, model], { blockNumber });
        const available = stake.active + stake.unbonding;
        if (available === 0n) {
          await this.db.query(
            `UPDATE slashes SET status = 'skipped', chain_model_id = $2, note = 'the host has no collateral on this model', updated_at = now() WHERE id = $1 AND status = 'pending'`,
            [s.id, model.toString()],
          );
          continue;
        }
        let amount = (available * BigInt(slashBps)) / 10_000n;
        if (amount === 0n) amount = available;
        await this.db.transaction(async (manager) => {
          const attempt = s.attempt + 1;
          const moved: unknown[] = await manager.query(
            `UPDATE slashes SET status = 'proposing', chain_model_id = $2, amount = $3, attempt = $4, note = NULL, updated_at = now() WHERE id = $1 AND status = 'pending' RETURNING id`,
            [s.id, model.toString(), amount.toString(), attempt],
          );
          if (moved.length) {
            await this.transactions.enqueue(manager, `slash-propose:${s.id}:${attempt}`, {
              contract: 'HostCollateral',
              functionName: 'proposeSlash',
              args: [s.host_address, model, amount, s.prover, s.evidence_hash],
            });
          }
        });
      } else if (s.status === 'upheld' || (s.appeal_deadline && now >= s.appeal_deadline)) {
        const onChain = ON_CHAIN[(await hostCollateral.read.slashOf([BigInt(s.chain_slash_id!)])).status];
        if (onChain === 'Appealed') {
          await this.db.query(`UPDATE slashes SET status = 'appealed', updated_at = now() WHERE id = $1`, [s.id]);
        } else if (onChain === 'Proposed' || onChain === 'Upheld') {
          await this.db.transaction(async (manager) => {
            const moved: unknown[] = await manager.query(
              `UPDATE slashes SET status = 'executing', updated_at = now() WHERE id = $1 AND status = $2 RETURNING id`,
              [s.id, s.status],
            );
            if (moved.length)
              await this.transactions.enqueue(manager, `slash-execute:${s.id}`, {
                contract: 'HostCollateral',
                functionName: 'executeSlash',
                args: [BigInt(s.chain_slash_id!)],
              });
          });
        }
      }
    }
  }

  /** An operator's decision on an appealed slash. */
  async resolve(
    manager: EntityManager,
    id: string,
    uphold: boolean,
  ): Promise<{ before: { status: 'appealed' }; after: { status: 'resolving'; uphold: boolean } }> {
    const rows: SlashRow[] = await manager.query('SELECT * FROM slashes WHERE id::text = $1 FOR UPDATE', [id]);
    if (!rows.length) throw new NotFound(`no slash ${id}`);
    const s = rows[0];
    if (s.status !== 'appealed') throw new Conflict(`slash ${id} is ${s.status}; only an appealed slash is resolved`);
    await manager.query(`UPDATE slashes SET status = 'resolving', updated_at = now() WHERE id = $1`, [s.id]);
    await this.transactions.enqueue(manager, `slash-resolve:${s.id}:${uphold ? 'uphold' : 'dismiss'}`, {
      contract: 'HostCollateral',
      functionName: 'resolveAppeal',
      args: [BigInt(s.chain_slash_id!), uphold],
    });
    return { before: { status: 'appealed' }, after: { status: 'resolving', uphold } };
  }

  private async proposeSettled(manager: EntityManager, tx: SettledTransaction): Promise<void> {
    const id = slashIdOf(tx.purpose);
    if (tx.status === 'confirmed') {
      const [proposed] = parseEventLogs({ abi: hostCollateralAbi, eventName: 'SlashProposed', logs: tx.receipt!.logs });
      await manager.query(`UPDATE slashes SET status = 'proposed', chain_slash_id = $2, appeal_deadline = to_timestamp($3), updated_at = now() WHERE id = $1`, [
        id,
        proposed.args.slashId.toString(),
        Number(proposed.args.appealDeadline),
      ]);
      return;
    }
    // Nothing was reserved on chain; the reason stays with the slash for an operator.
    await manager.query(`UPDATE slashes SET status = 'failed', amount = NULL, note = $2, updated_at = now() WHERE id = $1`, [
      id,
      tx.error?.message ?? 'proposal failed',
    ]);
  }

  private async executeSettled(manager: EntityManager, tx: SettledTransaction): Promise<void> {
    const id = slashIdOf(tx.purpose);
    if (tx.status === 'confirmed') {
      const [executed] = parseEventLogs({ abi: hostCollateralAbi, eventName: 'SlashExecuted', logs: tx.receipt!.logs });
      await manager.query(`UPDATE slashes SET status = 'executed', prover_bounty = $2, owner_share = $3, updated_at = now() WHERE id = $1`, [
        id,
        executed.args.proverBounty.toString(),
        executed.args.ownerShare.toString(),
      ]);
      return;
    }
    // Typically the host appealed between our check and the transaction: follow the chain.
    const [s] = await manager.query('SELECT chain_slash_id FROM slashes WHERE id = $1', [id]);
    const onChain = ON_CHAIN[(await (await this.chain.contracts()).hostCollateral.read.slashOf([BigInt(s.chain_slash_id)])).status];
    const status = onChain === 'Appealed' ? 'appealed' : onChain === 'Executed' ? 'executed' : 'failed';
    await manager.query(`UPDATE slashes SET status = $2, note = $3, updated_at = now() WHERE id = $1`, [
      id,
      status,
      status === 'failed' ? tx.error?.message : null,
    ]);
  }

  private async resolveSettled(manager: EntityManager, tx: SettledTransaction): Promise<void> {
    const [, id, decision] = tx.purpose.split(':');
    const status = tx.status !== 'confirmed' ? 'appealed' : decision === 'uphold' ? 'upheld' : 'dismissed';
    await manager.query(`UPDATE slashes SET status = $2, note = $3, updated_at = now() WHERE id = $1`, [
      id,
      status,
      tx.status === 'confirmed' ? null : tx.error?.message,
    ]);
  }

  private async note(id: string, note: string) {
    await this.db.query('UPDATE slashes SET note = $2, updated_at = now() WHERE id = $1', [id, note]);
  }

  async list(filter: { status?: SlashView['status']; host?: string }, limit = 100): Promise<SlashView[]> {
    const rows: ShownSlashRow[] = await this.db.query(
      `SELECT s.*, v.model_id, v.kind FROM slashes s JOIN proven_violations v USING (violation_id)
       WHERE ($1::text IS NULL OR s.status = $1) AND ($2::text IS NULL OR lower(s.host_address) = lower($2))
       ORDER BY s.created_at DESC LIMIT $3`,
      [filter.status ?? null, filter.host ?? null, limit],
    );
    return rows.map(toSlash);
  }

  async get(id: string): Promise<SlashView> {
    const rows: ShownSlashRow[] = await this.db.query(
      `SELECT s.*, v.model_id, v.kind FROM slashes s JOIN proven_violations v USING (violation_id) WHERE s.id::text = $1 OR s.violation_id = $1`,
      [id],
    );
    if (!rows.length) throw new NotFound(`no slash ${id}`);
    return toSlash(rows[0]);
  }
}

function toSlash(r: ShownSlashRow): SlashView {
  const text = (v: unknown) => (v === null || v === undefined ? null : String(v));
  return {
    id: r.id,
    violationId: r.violation_id,
    kind: r.kind,
    modelId: r.model_id,
    hostAddress: r.host_address,
    role: r.role,
    prover: r.prover,
    evidenceHash: r.evidence_hash,
    chainModelId: text(r.chain_model_id),
    amount: text(r.amount),
    status: r.status,
    chainSlashId: text(r.chain_slash_id),
    appealDeadline: r.appeal_deadline,
    proverBounty: text(r.prover_bounty),
    ownerShare: text(r.owner_share),
    note: r.note,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}
