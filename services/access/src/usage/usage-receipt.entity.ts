import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** One counted request: a (grant, counter) is counted once, whoever reports it how often. */
@Entity({ name: 'usage_receipts' })
export class UsageReceiptRecord {
  @PrimaryColumn('uuid', { name: 'grant_id' })
  grantId: string;

  @PrimaryColumn('bigint')
  counter: string;

  @Column('text', { name: 'host_address' })
  hostAddress: string;

  @Column('text', { name: 'model_id' })
  modelId: string;

  @Column('text', { name: 'user_id' })
  userId: string;

  @Column('int', { name: 'tokens_in' })
  tokensIn: number;

  @Column('int', { name: 'tokens_out' })
  tokensOut: number;

  @Column('timestamptz', { name: 'served_at' })
  servedAt: Date;

  /** The receipt as signed (body and host signature), base64url: evidence for epochs and disputes. */
  @Column('text')
  receipt: string;

  @CreateDateColumn({ name: 'received_at', type: 'timestamptz' })
  receivedAt: Date;

  /** The epoch that committed it; null while its epoch is open. */
  @Column('int', { nullable: true })
  epoch: number | null;

  /** The signed batch it arrived in (usage_batches), when the host signed the batch rather than the receipt. */
  @Column('uuid', { name: 'batch_id', nullable: true })
  batchId: string | null;
}
