import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** One hand-over of download URLs for a copy to its licensed host. */
@Entity({ name: 'deliveries' })
export class Delivery {
  @PrimaryColumn('uuid')
  id: string;

  @Column('uuid', { name: 'licence_id' })
  licenceId: string;

  @Column('text', { name: 'host_address' })
  hostAddress: string;

  @Column('uuid', { name: 'copy_version_id' })
  copyVersionId: string;

  @Column('text', { array: true })
  files: string[];

  @Column('timestamptz', { name: 'expires_at' })
  expiresAt: Date;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
