import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { Principal } from '@clopen/service-kit';
import type { AuditRecord } from '../settlement/settlement.contracts';

export interface AuditEntry {
  action: string;
  target: string;
  before?: unknown;
  after?: unknown;
  transactionIds?: string[];
}

const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)));

/** Who changed what through the admin API, written in the same transaction as the change. */
@Injectable()
export class AuditLog {
  constructor(private readonly db: DataSource) {}

  async record(manager: EntityManager, principal: Principal, entry: AuditEntry): Promise<void> {
    await manager.query(`INSERT INTO audit_log (principal_id, key_id, action, target, before, after, transaction_ids) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
      principal.id,
      principal.keyId,
      entry.action,
      entry.target,
      json(entry.before),
      json(entry.after),
      entry.transactionIds ?? [],
    ]);
  }

  async list(filter: { action?: string; target?: string }, limit = 100): Promise<AuditRecord[]> {
    return this.db.query(
      `SELECT id::text, at, principal_id AS "principalId", key_id AS "keyId", action, target, before, after, transaction_ids AS "transactionIds"
       FROM audit_log WHERE ($1::text IS NULL OR action = $1) AND ($2::text IS NULL OR target = $2) ORDER BY id DESC LIMIT $3`,
      [filter.action ?? null, filter.target ?? null, limit],
    );
  }
}
