import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A closed epoch: the receipts received in [startedAt, endedAt), committed by one root. */
@Entity({ name: 'epochs' })
export class Epoch {
  @PrimaryColumn('int')
  number: number;

  @Column('timestamptz', { name: 'started_at' })
  startedAt: Date;

  @Column('timestamptz', { name: 'ended_at' })
  endedAt: Date;

  @Column('int', { name: 'receipt_count' })
  receiptCount: number;

  @Column('text')
  root: string;
}
