import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** A block whose logs were published: the checkpoint is the highest, the rest find a reorg's fork point. */
@Entity({ name: 'indexed_blocks' })
export class IndexedBlock {
  @PrimaryColumn('bigint', { name: 'chain_id' })
  chainId: string;

  @PrimaryColumn('bigint')
  number: string;

  @Column('text')
  hash: string;

  @Column('text', { name: 'parent_hash' })
  parentHash: string;

  @Column('int')
  logs: number;

  @CreateDateColumn({ name: 'indexed_at', type: 'timestamptz' })
  indexedAt: Date;
}
