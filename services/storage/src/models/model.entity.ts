import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** A model registered by its owner; versions hold the artefacts. */
@Entity({ name: 'models' })
export class Model {
  @PrimaryColumn('uuid')
  id: string;

  @Column('text')
  name: string;

  @Column('text', { name: 'owner_id' })
  ownerId: string;

  @Column('text', { default: '' })
  description: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
