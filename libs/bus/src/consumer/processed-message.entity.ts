import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** A message a consumer has handled; its row commits with the handler's writes, so a redelivery is skipped. */
@Entity({ name: 'processed_messages' })
@Index('processed_messages_processed_at_idx', ['processedAt'])
export class ProcessedMessage {
  @PrimaryColumn({ type: 'text' })
  consumer: string;

  /** Envelope id. Text, not uuid: partners' ids are only required to be unique. */
  @PrimaryColumn({ name: 'message_id', type: 'text' })
  messageId: string;

  @Column({ name: 'processed_at', type: 'timestamptz', default: () => 'now()' })
  processedAt: Date;
}
