import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

export const POOL_STATUSES = ['generating', 'ready', 'failed'] as const;
export type PoolStatus = (typeof POOL_STATUSES)[number];
export const KEY_STRATEGIES = ['english', 'random'] as const;
export const RESPONSE_STRATEGIES = ['perinucleus', 'random'] as const;

/**
 * A model version's fingerprint pool and how copies draw from it. The entries and the assignment
 * seed are stored sealed (AES-256-GCM, DISTRIBUTION_POOL_KEYS); only their Merkle root is public.
 */
@Entity({ name: 'fingerprint_pools' })
export class FingerprintPool {
  @PrimaryColumn('uuid')
  id: string;

  @Column('uuid', { name: 'model_id' })
  modelId: string;

  @Column('uuid', { name: 'version_id', unique: true })
  versionId: string;

  @Column('text', { name: 'owner_id' })
  ownerId: string;

  @Column('text')
  status: PoolStatus;

  @Column('text', { nullable: true })
  failure: string | null;

  @Column('int')
  size: number;

  @Column('text', { name: 'key_strategy' })
  keyStrategy: (typeof KEY_STRATEGIES)[number];

  @Column('text', { name: 'response_strategy' })
  responseStrategy: (typeof RESPONSE_STRATEGIES)[number];

  @Column('int', { name: 'key_length' })
  keyLength: number;

  /** N: hosts the assignment is sized for. */
  @Column('int')
  hosts: number;

  /** K: largest coalition it traces. */
  @Column('int')
  coalition: number;

  @Column('double precision', { name: 'inclusion_p' })
  inclusionP: number;

  @Column('int', { name: 'keys_per_trace' })
  keysPerTrace: number;

  @Column('text', { name: 'sealed_entries', nullable: true })
  sealedEntries: string | null;

  @Column('text', { name: 'sealed_seed' })
  sealedSeed: string;

  @Column('text', { name: 'entries_root', nullable: true })
  entriesRoot: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column('timestamptz', { name: 'ready_at', nullable: true })
  readyAt: Date | null;
}
