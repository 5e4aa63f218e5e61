import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

export const LICENCE_STATUSES = ['active', 'ended'] as const;
export type LicenceStatus = (typeof LICENCE_STATUSES)[number];
export const LICENCE_ORIGINS = ['admin', 'chain'] as const;
export type LicenceOrigin = (typeof LICENCE_ORIGINS)[number];

/** A host's right to serve one model version and receive its own copy of it. */
@Entity({ name: 'licences' })
export class Licence {
  @PrimaryColumn('uuid')
  id: string;

  @Column('uuid', { name: 'model_id' })
  modelId: string;

  @Column('uuid', { name: 'version_id' })
  versionId: string;

  /** EIP-55 checksummed EVM address. */
  @Column('text', { name: 'host_address' })
  hostAddress: string;

  @Column('text')
  origin: LicenceOrigin;

  @Column('text')
  status: LicenceStatus;

  @Column('text', { name: 'ended_reason', nullable: true })
  endedReason: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column('timestamptz', { name: 'ended_at', nullable: true })
  endedAt: Date | null;
}

/** Which pool entries a licence's copy holds. The indices reveal no key or response. */
@Entity({ name: 'assignments' })
export class Assignment {
  @PrimaryColumn('uuid', { name: 'licence_id' })
  licenceId: string;

  @Column('uuid', { name: 'pool_id' })
  poolId: string;

  @Column('text', { name: 'host_address' })
  hostAddress: string;

  @Column('int', { array: true })
  indices: number[];

  /** Merkle leaf: sha256 over the host and the digest of its indices. */
  @Column('text')
  leaf: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
