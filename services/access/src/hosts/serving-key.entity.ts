import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** An ed25519 key a host signs usage receipts with, registered by the host's EVM key. */
@Entity({ name: 'host_serving_keys' })
export class ServingKey {
  @PrimaryColumn('text', { name: 'host_address' })
  hostAddress: string;

  @PrimaryColumn('text', { name: 'key_id' })
  keyId: string;

  /** base64url of the 32 raw bytes. */
  @Column('text', { name: 'public_key' })
  publicKey: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
