import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { CONFIG } from '@clopen/service-kit';
import type { IncentivesConfig } from '../incentives.settings';

/** Governance parameters kept by this service (the chain keeps shares, appeal window, bounty and unstake delay). */
export interface LocalParams {
  /** Blocks under the head a protocol transaction and a chain read wait for. */
  confirmations: number;
  /** Share of an accused host's stake a proven violation slashes, basis points. */
  slashBps: number;
}

@Injectable()
export class GovernanceParams {
  constructor(
    private readonly db: DataSource,
    @Inject(CONFIG) private readonly config: IncentivesConfig,
  ) {}

  async get(manager: EntityManager = this.db.manager): Promise<LocalParams> {
    const rows: { key: string; value: string }[] = await manager.query('SELECT key, value FROM governance_params');
    const stored = new Map(rows.map((r) => [r.key, Number(r.value)]));
    return {
      confirmations: stored.get('confirmations') ?? this.config.CHAIN_CONFIRMATIONS,
      slashBps: stored.get('slashBps') ?? this.config.INCENTIVES_SLASH_BPS,
    };
  }

  async set(manager: EntityManager, changes: Partial<LocalParams>): Promise<void> {
    for (const [key, value] of Object.entries(changes)) {
      if (value === undefined) continue;
      await manager.query(
        `INSERT INTO governance_params (key, value) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`,
        [key, String(value)],
      );
    }
  }
}
