import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** An event written in the same transaction as the state change it reports; the relay publishes it. */
@Entity({ name: 'outbox_messages' })
@Index('outbox_messages_unpublished_idx', ['createdAt'], { where: '"published_at" IS NULL' })
@Index('outbox_messages_published_idx', ['publishedAt'], { where: '"published_at" IS NOT NULL' })
export class OutboxMessage {
  /** The envelope id, hence also the Nats-Msg-Id. */
  @PrimaryColumn({ type: 'uuid' })
  id: string;

  @Column({ type: 'text' })
  subject: string;

  /** Encoded clopen.bus.v1.Envelope, published as is. */
  @Column({ type: 'bytea' })
  envelope: Buffer;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'clock_timestamp()' })
  createdAt: Date;

  @Column({ name: 'published_at', type: 'timestamptz', nullable: true })
  publishedAt: Date | null;

  @Column({ type: 'int', default: 0 })
  attempts: number;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError: string | null;
}
