import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

export const EMBEDDING_JOB_STATES = ['waiting_for_pool', 'queued', 'running', 'completed', 'failed', 'cancelled'] as const;
export type EmbeddingJobState = (typeof EMBEDDING_JOB_STATES)[number];
export const FINAL_STATES: readonly EmbeddingJobState[] = ['completed', 'failed', 'cancelled'];

/** The job that produces one licence's copy; the queue holds its live state, this row its record. */
@Entity({ name: 'embedding_jobs' })
export class EmbeddingJob {
  @PrimaryColumn('uuid', { name: 'licence_id' })
  licenceId: string;

  @Column('text', { name: 'job_id' })
  jobId: string;

  @Column('text')
  state: EmbeddingJobState;

  @Column('text', { default: '' })
  phase: string;

  @Column('double precision', { default: 0 })
  percent: number;

  @Column('int', { default: 0 })
  attempts: number;

  @Column('text', { nullable: true })
  reason: string | null;

  @Column('uuid', { name: 'copy_version_id', nullable: true })
  copyVersionId: string | null;

  @Column('int', { nullable: true })
  embedded: number | null;

  @Column('int', { name: 'fingerprint_count', nullable: true })
  fingerprintCount: number | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
