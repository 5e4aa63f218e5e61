import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';
import type { Role } from './roles';

/** An API key; only its sha256 is stored, the key itself is shown once when created. */
@Entity({ name: 'api_keys' })
export class ApiKey {
  @PrimaryColumn('uuid')
  id: string;

  @Column('text', { name: 'principal_id' })
  principalId: string;

  @Column('text', { array: true })
  roles: Role[];

  @Index({ unique: true })
  @Column('bytea', { name: 'key_hash' })
  keyHash: Buffer;

  @Column('text', { default: '' })
  label: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column('timestamptz', { name: 'revoked_at', nullable: true })
  revokedAt: Date | null;
}
