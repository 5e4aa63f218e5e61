import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';
import type { ProofVerdict } from './provers.contracts';

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

  /** The model of the version (null for challenges opened before access kept it). */
  @Column('text', { name: 'model_id', nullable: true })
  modelId: string | null;

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

  /** sha256 of the answers the verdict was reached on: the same proof again gets `verdict`, another one 409. */
  @Column('text', { name: 'proof_sha256', nullable: true })
  proofSha256: string | null;

  /** The answer the proof got, returned as is to the same proof submitted again. */
  @Column('jsonb', { nullable: true })
  verdict: ProofVerdict | null;
}
