import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { DataSource, LessThan, type EntityManager } from 'typeorm';
import { Outbox } from '@clopen/bus';
import { MerkleTree, type MerkleProof } from '@clopen/merkle';
import { timestampFromDate } from '@clopen/proto';
import { CONFIG, NotFound } from '@clopen/service-kit';
import type { AccessConfig } from '../access.settings';
import { Epoch } from './epoch.entity';

/** The leaf of a receipt: sha256(0x00 ‖ the receipt as signed), so leaves never read as inner nodes. */
export function receiptLeaf(receipt: Buffer): Buffer {
  return createHash('sha256').update(Buffer.of(0x00)).update(receipt).digest();
}

/**
 * Epochs of usage: at ACCESS_EPOCH_SECONDS the receipts received since the last epoch are
 * committed by a Merkle root (ordered by grant and counter) with totals per (model, host, user),
 * published as `access.epoch.closed` for the chain. One replica closes (an advisory lock); a
 * receipt belongs to exactly one epoch.
 */
@Injectable()
export class EpochsService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly log = new Logger(EpochsService.name);
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly db: DataSource,
    private readonly outbox: Outbox,
    @Inject(CONFIG) private readonly config: AccessConfig,
  ) {}

  onApplicationBootstrap() {
    this.timer = setInterval(
      () => void this.close().catch((e) => this.log.warn(`closing an epoch: ${(e as Error).message}`)),
      this.config.ACCESS_EPOCH_SECONDS * 1000,
    );
  }

  onModuleDestroy() {
    clearInterval(this.timer);
  }

  /** Closes the open epoch; null when no receipt arrived since the last one (or another replica is closing). */
  async close(): Promise<Epoch | null> {
    return this.db.transaction(async (m) => {
      const [{ locked }] = await m.query("SELECT pg_try_advisory_xact_lock(hashtext('access:epochs')) AS locked");
      if (!locked) return null;
      const [last] = await m.query('SELECT number, ended_at FROM epochs ORDER BY number DESC LIMIT 1');
      const endedAt = new Date();
      const [{ count, first }] = await m.query(
        'SELECT count(*)::int AS count, min(received_at) AS first FROM usage_receipts WHERE epoch IS NULL AND received_at < $1',
        [endedAt],
      );
      if (!count) return null;
      const number = (last?.number ?? 0) + 1;
      const leaves = await this.openLeaves(m, endedAt);
      const epoch = m
        .getRepository(Epoch)
        .create({ number, startedAt: last?.ended_at ?? first, endedAt, receiptCount: count, root: new MerkleTree(leaves).root });
      await m.getRepository(Epoch).insert(epoch);
      await m.query('UPDATE usage_receipts SET epoch = $1 WHERE epoch IS NULL AND received_at < $2', [number, endedAt]);
      const totals: { model_id: string; host_address: string; user_id: string; requests: number; tokens_in: string; tokens_out: string }[] = await m.query(
        `SELECT model_id, host_address, user_id, count(*)::int AS requests, sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out
           FROM usage_receipts WHERE epoch = $1 GROUP BY model_id, host_address, user_id ORDER BY model_id, host_address, user_id`,
        [number],
      );
      await this.outbox.enqueue(m, 'access.epoch.closed', {
        epoch: BigInt(number),
        startedAt: timestampFromDate(new Date(epoch.startedAt)),
        endedAt: timestampFromDate(endedAt),
        receiptRoot: epoch.root,
        receiptCount: BigInt(count),
        totals: totals.map((t) => ({
          modelId: t.model_id,
          hostAddress: t.host_address,
          userId: t.user_id,
          requests: BigInt(t.requests),
          tokensIn: BigInt(t.tokens_in),
          tokensOut: BigInt(t.tokens_out),
        })),
      });
      this.log.log(`epoch ${number} closed: ${count} receipts, root ${epoch.root}`);
      return epoch;
    });
  }

  /** Closed epochs, newest first; `before` pages back from an epoch number. */
  list({ before, limit }: { before?: number; limit: number }): Promise<Epoch[]> {
    return this.db.getRepository(Epoch).find({ where: before ? { number: LessThan(before) } : {}, order: { number: 'DESC' }, take: limit });
  }

  /** The inclusion proof of one receipt in its epoch's root, for a host or user to check. */
  async proof(grantId: string, counter: string): Promise<{ epoch: number; root: string; receipt: string; leaf: string; proof: MerkleProof }> {
    const [row] = await this.db.query('SELECT epoch, receipt FROM usage_receipts WHERE grant_id = $1 AND counter = $2', [grantId, counter]);
    if (!row) throw new NotFound(`no receipt for grant ${grantId}, counter ${counter}`);
    if (row.epoch === null) throw new NotFound(`the receipt of grant ${grantId}, counter ${counter} is in the open epoch; ask again once it closes`);
    const epoch = await this.db.getRepository(Epoch).findOneByOrFail({ number: row.epoch });
    // One pass over the epoch's receipts gives both the leaves and this receipt's position.
    const rows: { grant_id: string; counter: string; receipt: string }[] = await this.db.query(
      'SELECT grant_id, counter, receipt FROM usage_receipts WHERE epoch = $1 ORDER BY grant_id, counter',
      [epoch.number],
    );
    const index = rows.findIndex((r) => r.grant_id === grantId && r.counter === counter);
    const tree = new MerkleTree(rows.map((r) => receiptLeaf(Buffer.from(r.receipt, 'base64url'))));
    const receipt = Buffer.from(row.receipt, 'base64url');
    return { epoch: epoch.number, root: epoch.root, receipt: row.receipt, leaf: `0x${receiptLeaf(receipt).toString('hex')}`, proof: tree.proof(index) };
  }

  /** Leaves of the receipts an epoch ending at `before` commits, in root order. */
  private async openLeaves(m: EntityManager, before: Date): Promise<Buffer[]> {
    const rows: { receipt: string }[] = await m.query(
      'SELECT receipt FROM usage_receipts WHERE epoch IS NULL AND received_at < $1 ORDER BY grant_id, counter',
      [before],
    );
    return rows.map((r) => receiptLeaf(Buffer.from(r.receipt, 'base64url')));
  }
}
