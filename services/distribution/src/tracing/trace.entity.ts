import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';
import type { TraceOutcome } from '@clopen/tracing';
import type { z } from 'zod';
import type { HostScoreSchema } from './tracing.contracts';

/** Keys of a pool handed to a prover to ask a suspect model; each key is handed out once. */
@Entity({ name: 'challenges' })
export class Challenge {
  @PrimaryColumn('uuid')
  id: string;

  @Column('uuid', { name: 'pool_id' })
  poolId: string;

  @Column('uuid', { name: 'version_id' })
  versionId: string;

  @Column('text', { name: 'prover_id' })
  proverId: string;

  @Column('int', { array: true })
  indices: number[];

  @Column('uuid', { name: 'trace_id', nullable: true })
  traceId: string | null;

  /** sha256 of the outputs it was traced with (sorted by key index): the same outputs again get the same trace. */
  @Column('text', { name: 'responses_sha256', nullable: true })
  responsesSha256: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}

export type HostScoreRecord = z.infer<typeof HostScoreSchema>;

/** A suspect model's answers to a challenge, scored against every licensed host. */
@Entity({ name: 'traces' })
export class Trace {
  @PrimaryColumn('uuid')
  id: string;

  @Column('uuid', { name: 'challenge_id', unique: true })
  challengeId: string;

  @Column('uuid', { name: 'version_id' })
  versionId: string;

  @Column('text', { name: 'requested_by' })
  requestedBy: string;

  @Column('int', { name: 'keys_asked' })
  keysAsked: number;

  @Column('int', { name: 'keys_answered' })
  keysAnswered: number;

  @Column('text')
  outcome: TraceOutcome;

  @Column('double precision', { name: 'false_accusation' })
  falseAccusation: number;

  @Column('jsonb')
  scores: HostScoreRecord[];

  @Column('text', { array: true })
  accused: string[];

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}
