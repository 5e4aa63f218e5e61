import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** A prover the platform trusts to ask for challenges (they spend fingerprint keys). Identity: its EVM address. */
@Entity({ name: 'provers' })
export class Prover {
  @PrimaryColumn('text')
  address: string;

  @Column('text')
  name: string;

  @CreateDateColumn({ name: 'registered_at', type: 'timestamptz' })
  registeredAt: Date;

  @Column('timestamptz', { name: 'revoked_at', nullable: true })
  revokedAt: Date | null;
}
