import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

export const VIOLATION_KINDS = ['served_without_permission', 'unlicensed_copy'] as const;
export type ViolationKind = (typeof VIOLATION_KINDS)[number];
export const ACCUSED_ROLES = ['served_without_permission', 'copy_licensee', 'serving_host'] as const;
export type AccusedRole = (typeof ACCUSED_ROLES)[number];

export interface AccusedHostRecord {
  hostAddress: string;
  role: AccusedRole;
  /** Fingerprint evidence (tracing's p-value); 0 where the evidence is the host's own signatures. */
  pValue: number;
}

/** A proven violation: what was proven against whom, and the evidence exactly as the prover submitted it. */
@Entity({ name: 'violations' })
export class Violation {
  @PrimaryColumn('uuid')
  id: string;

  @Column('uuid', { name: 'challenge_id', unique: true })
  challengeId: string;

  @Column('uuid', { name: 'version_id' })
  versionId: string;

  @Column('text')
  endpoint: string;

  @Column('text')
  prover: string;

  @Column('text')
  kind: ViolationKind;

  @Column('jsonb')
  accused: AccusedHostRecord[];

  @Column('text', { name: 'evidence_sha256' })
  evidenceSha256: string;

  /** The queries and the answers (bodies, host receipts) the verdict rests on. */
  @Column('jsonb')
  evidence: Record<string, unknown>;

  @Column('int')
  queries: number;

  @Column('int', { name: 'keys_asked' })
  keysAsked: number;

  @Column('int', { name: 'keys_answered' })
  keysAnswered: number;

  @Column('int', { name: 'unpermitted_answers' })
  unpermittedAnswers: number;

  @Column('uuid', { name: 'trace_id', nullable: true })
  traceId: string | null;

  @Column('double precision', { name: 'false_accusation' })
  falseAccusation: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
