import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** One request body the prover sends to the endpoint, byte for byte; `keyIndex` marks the pool keys among the decoys (never shown to the prover). */
export interface ChallengeQuery {
  id: string;
  body: string;
  keyIndex: number | null;
}

/** A challenge handed to a prover for one endpoint: its fingerprint keys (from distribution) mixed with decoys. */
@Entity({ name: 'prover_challenges' })
export class ProverChallenge {
  /** The distribution challenge's id. */
  @PrimaryColumn('uuid')
  id: string;

  @Column('text')
  prover: string;

  @Column('uuid', { name: 'version_id' })
  versionId: string;

  @Column('text')
  endpoint: string;

  @Column('jsonb')
  queries: ChallengeQuery[];

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  /** Set once a proof was checked: 'violation' or 'no_violation'. */
  @Column('text', { nullable: true })
  outcome: string | null;

  @Column('uuid', { name: 'violation_id', nullable: true })
  violationId: string | null;
}
