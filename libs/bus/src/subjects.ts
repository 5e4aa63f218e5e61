import type { DescMessage, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import { accessV1, chainV1, distributionV1, storageV1 } from '@clopen/proto';
import type { StreamName } from './streams';

/** A durable fact, published on a JetStream stream. */
export interface EventSpec {
  readonly kind: 'event';
  readonly stream: StreamName;
  readonly schema: DescMessage;
  readonly description: string;
  /**
   * Partners publish it too, each from its own NATS account: the server hands a partner's message to
   * the platform on `<subject>.<partner id>` (src/partners.ts, infra/nats), so the stream records who
   * sent it and no partner can send as another. Consumers read those with `fromPartners`.
   */
  readonly fromPartners?: true;
  /**
   * The platform also addresses it to one partner: an event about a partner's own messages (the
   * receipts it reported) is published a second time on `<subject>.<partner id>`, stored in the
   * PARTNERS stream, which that partner's account alone may read (src/partners.ts, infra/nats).
   */
  readonly toPartners?: true;
}

/** A query answered over core NATS request/reply; never captured by a stream. */
export interface RequestSpec {
  readonly kind: 'request';
  readonly request: DescMessage;
  readonly response: DescMessage;
  readonly description: string;
}

export type SubjectSpec = EventSpec | RequestSpec;

/**
 * Every subject on the bus, the one place that says what travels where.
 * Events: `<context>.<entity>.<past-tense-verb>`; requests: `<context>.<entity>.<verb>`.
 * Adding a subject is adding one line here (and its proto message).
 */
export const SUBJECTS = {
  'storage.model.registered': {
    kind: 'event',
    stream: 'STORAGE',
    schema: storageV1.ModelRegisteredSchema,
    description: 'A model owner registered a new model.',
  },
  'storage.version.published': {
    kind: 'event',
    stream: 'STORAGE',
    schema: storageV1.VersionPublishedSchema,
    description: 'A model version and its artefact files were published.',
  },
  'distribution.licence.granted': {
    kind: 'event',
    stream: 'DISTRIBUTION',
    schema: distributionV1.LicenceGrantedSchema,
    description: 'A host was licensed for a model version; its copy will be produced.',
  },
  'distribution.licence.ended': {
    kind: 'event',
    stream: 'DISTRIBUTION',
    schema: distributionV1.LicenceEndedSchema,
    description: 'A licence ended (unstake, slash or an admin); its copy is no longer delivered.',
  },
  'distribution.pool.generated': {
    kind: 'event',
    stream: 'DISTRIBUTION',
    schema: distributionV1.PoolGeneratedSchema,
    description: "A model version's fingerprint pool was generated; carries a Merkle root over its entries, never the entries.",
  },
  'distribution.assignment.committed': {
    kind: 'event',
    stream: 'DISTRIBUTION',
    schema: distributionV1.AssignmentCommittedSchema,
    description: "A host's subset of the pool was fixed; the Merkle root over all hosts' hashed assignments, for the chain.",
  },
  'distribution.embedding.progressed': {
    kind: 'event',
    stream: 'DISTRIBUTION',
    schema: distributionV1.EmbeddingProgressedSchema,
    description: "Progress of the job producing a host's OML copy: phase, percent, and its end (completed, failed, cancelled).",
  },
  'distribution.copy.delivered': {
    kind: 'event',
    stream: 'DISTRIBUTION',
    schema: distributionV1.CopyDeliveredSchema,
    description: 'A licensed host was handed short-lived download URLs for its own copy.',
  },
  'distribution.trace.completed': {
    kind: 'event',
    stream: 'DISTRIBUTION',
    schema: distributionV1.TraceCompletedSchema,
    description: "A suspect model's answers were scored against every licensed host; the accused and their scores.",
  },
  'access.grant.issued': {
    kind: 'event',
    stream: 'ACCESS',
    schema: accessV1.GrantIssuedSchema,
    description: 'An end user bought access to a model: a grant bound to their key was signed.',
  },
  'access.grant.revoked': {
    kind: 'event',
    stream: 'ACCESS',
    schema: accessV1.GrantRevokedSchema,
    description: 'A grant was revoked; hosts following this subject refuse it within seconds.',
  },
  'access.usage.reported': {
    kind: 'event',
    stream: 'ACCESS',
    schema: accessV1.UsageReportedSchema,
    fromPartners: true,
    description: "A batch of usage receipts from a host or partner: each signed by the host, carrying the user's request signature.",
  },
  'access.usage.rejected': {
    kind: 'event',
    stream: 'ACCESS',
    schema: accessV1.UsageRejectedSchema,
    toPartners: true,
    description: 'A usage receipt that was not counted, and why.',
  },
  'access.epoch.closed': {
    kind: 'event',
    stream: 'ACCESS',
    schema: accessV1.EpochClosedSchema,
    description: 'An epoch of usage closed: totals per (model, host, user) and the Merkle root over its receipts.',
  },
  'access.violation.proven': {
    kind: 'event',
    stream: 'ACCESS',
    schema: accessV1.ViolationProvenSchema,
    description:
      "A prover's proof held: a host served without permission, or a copy was served where it was not licensed; the accused, the evidence hash and the statistics.",
  },
  'chain.registry.model_registered': {
    kind: 'event',
    stream: 'CHAIN',
    schema: chainV1.ContractLogObservedSchema,
    description: 'ModelRegistry.ModelRegistered, with the confirmations the indexer waits for.',
  },
  'chain.registry.version_published': {
    kind: 'event',
    stream: 'CHAIN',
    schema: chainV1.ContractLogObservedSchema,
    description: 'ModelRegistry.VersionPublished, with the confirmations the indexer waits for.',
  },
  'chain.registry.fee_per_request_set': {
    kind: 'event',
    stream: 'CHAIN',
    schema: chainV1.ContractLogObservedSchema,
    description: 'ModelRegistry.FeePerRequestSet, with the confirmations the indexer waits for.',
  },
  'chain.registry.model_transferred': {
    kind: 'event',
    stream: 'CHAIN',
    schema: chainV1.ContractLogObservedSchema,
    description: 'ModelRegistry.Transfer (a model changed owner), with the confirmations the indexer waits for.',
  },
  'chain.collateral.staked': {
    kind: 'event',
    stream: 'CHAIN',
    schema: chainV1.ContractLogObservedSchema,
    description: 'HostCollateral.Staked, with the confirmations the indexer waits for.',
  },
  'chain.collateral.unstake_requested': {
    kind: 'event',
    stream: 'CHAIN',
    schema: chainV1.ContractLogObservedSchema,
    description: 'HostCollateral.UnstakeRequested, with the confirmations the indexer waits for.',
  },
  'chain.collateral.withdrawn': {
    kind: 'event',
    stream: 'CHAIN',
    schema: chainV1.ContractLogObservedSchema,
    description: 'HostCollateral.Withdrawn, with the confirmations the indexer waits for.',
  },
  'chain.collateral.slash_proposed': {
    kind: 'event',
    stream: 'CHAIN',
    schema: chainV1.ContractLogObservedSchema,
    description: 'HostCollateral.SlashProposed, with the confirmations the indexer waits for.',
  },
  'chain.collateral.slash_appealed': {
    kind: 'event',
    stream: 'CHAIN',
    schema: chainV1.ContractLogObservedSchema,
    description: 'HostCollateral.SlashAppealed, with the confirmations the indexer waits for.',
  },
  'chain.collateral.slash_appeal_resolved': {
    kind: 'event',
    stream: 'CHAIN',
    schema: chainV1.ContractLogObservedSchema,
    description: 'HostCollateral.SlashAppealResolved, with the confirmations the indexer waits for.',
  },
  'chain.collateral.slash_executed': {
    kind: 'event',
    stream: 'CHAIN',
    schema: chainV1.ContractLogObservedSchema,
    description: 'HostCollateral.SlashExecuted, with the confirmations the indexer waits for.',
  },
  'chain.collateral.unstake_delay_set': {
    kind: 'event',
    stream: 'CHAIN',
    schema: chainV1.ContractLogObservedSchema,
    description: 'HostCollateral.UnstakeDelaySet, with the confirmations the indexer waits for.',
  },
  'chain.collateral.appeal_window_set': {
    kind: 'event',
    stream: 'CHAIN',
    schema: chainV1.ContractLogObservedSchema,
    description: 'HostCollateral.AppealWindowSet, with the confirmations the indexer waits for.',
  },
  'chain.collateral.prover_bounty_set': {
    kind: 'event',
    stream: 'CHAIN',
    schema: chainV1.ContractLogObservedSchema,
    description: 'HostCollateral.ProverBountySet, with the confirmations the indexer waits for.',
  },
  'chain.ledger.usage_root_committed': {
    kind: 'event',
    stream: 'CHAIN',
    schema: chainV1.ContractLogObservedSchema,
    description: 'UsageLedger.UsageRootCommitted, with the confirmations the indexer waits for.',
  },
  'chain.ledger.assignment_root_committed': {
    kind: 'event',
    stream: 'CHAIN',
    schema: chainV1.ContractLogObservedSchema,
    description: 'UsageLedger.AssignmentRootCommitted, with the confirmations the indexer waits for.',
  },
  'chain.vault.fees_deposited': {
    kind: 'event',
    stream: 'CHAIN',
    schema: chainV1.ContractLogObservedSchema,
    description: 'RewardsVault.FeesDeposited, with the confirmations the indexer waits for.',
  },
  'chain.vault.allocation_posted': {
    kind: 'event',
    stream: 'CHAIN',
    schema: chainV1.ContractLogObservedSchema,
    description: 'RewardsVault.AllocationPosted, with the confirmations the indexer waits for.',
  },
  'chain.vault.claimed': {
    kind: 'event',
    stream: 'CHAIN',
    schema: chainV1.ContractLogObservedSchema,
    description: 'RewardsVault.Claimed, with the confirmations the indexer waits for.',
  },
  'chain.vault.shares_set': {
    kind: 'event',
    stream: 'CHAIN',
    schema: chainV1.ContractLogObservedSchema,
    description: 'RewardsVault.SharesSet, with the confirmations the indexer waits for.',
  },
  'chain.blocks.reorged': {
    kind: 'event',
    stream: 'CHAIN',
    schema: chainV1.ChainReorgedSchema,
    description: 'Published blocks were replaced on the chain: their chain.* events are void; compensate.',
  },
  'storage.model.get': {
    kind: 'request',
    request: storageV1.ModelGetRequestSchema,
    response: storageV1.ModelGetResponseSchema,
    description: 'Fetch a model by id.',
  },
  'storage.version.get': {
    kind: 'request',
    request: storageV1.VersionGetRequestSchema,
    response: storageV1.VersionGetResponseSchema,
    description: 'Fetch a model version by id.',
  },
  'distribution.challenge.open': {
    kind: 'request',
    request: distributionV1.ChallengeOpenRequestSchema,
    response: distributionV1.ChallengeOpenResponseSchema,
    description: "Fingerprint keys of a version's pool never handed out before, for a registered prover's challenge.",
  },
  'distribution.challenge.trace': {
    kind: 'request',
    request: distributionV1.ChallengeTraceRequestSchema,
    response: distributionV1.ChallengeTraceResponseSchema,
    description: "Scores a suspect's outputs for a challenge against every licensed host's copy.",
  },
} as const satisfies Record<string, SubjectSpec>;

type Table = typeof SUBJECTS;
export type Subject = keyof Table;
export type EventSubject = { [K in Subject]: Table[K] extends { kind: 'event' } ? K : never }[Subject];
export type RequestSubject = { [K in Subject]: Table[K] extends { kind: 'request' } ? K : never }[Subject];

type EventSchema<S extends EventSubject> = Table[S] extends { schema: infer D extends DescMessage } ? D : never;
type RequestSchema<S extends RequestSubject> = Table[S] extends { request: infer D extends DescMessage } ? D : never;
type ResponseSchema<S extends RequestSubject> = Table[S] extends { response: infer D extends DescMessage } ? D : never;

/** The generated message type published on an event subject. */
export type EventPayload<S extends EventSubject> = MessageShape<EventSchema<S>>;
export type RequestPayload<S extends RequestSubject> = MessageShape<RequestSchema<S>>;
export type ResponsePayload<S extends RequestSubject> = MessageShape<ResponseSchema<S>>;
/** What a publisher may pass: the message itself or a plain object that `create()` accepts. */
export type EventInit<S extends EventSubject> = MessageInitShape<EventSchema<S>>;
export type RequestInit<S extends RequestSubject> = MessageInitShape<RequestSchema<S>>;
export type ResponseInit<S extends RequestSubject> = MessageInitShape<ResponseSchema<S>>;

/** The message carried in an envelope on this subject: the event, or the request of a query. */
export type EnvelopePayload<S extends Subject> = S extends EventSubject ? EventPayload<S> : S extends RequestSubject ? RequestPayload<S> : never;
export type EnvelopeInit<S extends Subject> = S extends EventSubject ? EventInit<S> : S extends RequestSubject ? RequestInit<S> : never;

export function isSubject(subject: string): subject is Subject {
  return Object.prototype.hasOwnProperty.call(SUBJECTS, subject);
}

export function subjectSpec(subject: string): SubjectSpec {
  if (!isSubject(subject)) {
    throw new Error(`unknown bus subject "${subject}": add it to libs/bus/src/subjects.ts`);
  }
  return SUBJECTS[subject];
}

export function eventSpec(subject: string): EventSpec {
  const spec = subjectSpec(subject);
  if (spec.kind !== 'event') throw new Error(`"${subject}" is a request subject, not an event`);
  return spec;
}

export function requestSpec(subject: string): RequestSpec {
  const spec = subjectSpec(subject);
  if (spec.kind !== 'request') throw new Error(`"${subject}" is an event subject, not a request`);
  return spec;
}

/** The schema of the message an envelope on this subject carries. */
export function envelopeSchema(subject: string): DescMessage {
  const spec = subjectSpec(subject);
  return spec.kind === 'event' ? spec.schema : spec.request;
}

export interface SubjectDescription {
  subject: string;
  kind: 'event' | 'request';
  description: string;
  /** Event: the stream that stores it. */
  stream?: string;
  /** Event: its message; request: the request message. Fully qualified proto names. */
  messageType: string;
  /** Request only: the response message. */
  responseType?: string;
}

/** The subjects table as plain data, e.g. to generate the AsyncAPI document. */
export function describeSubjects(): SubjectDescription[] {
  return (Object.entries(SUBJECTS) as [Subject, SubjectSpec][]).map(([subject, spec]) =>
    spec.kind === 'event'
      ? { subject, kind: spec.kind, description: spec.description, stream: spec.stream, messageType: spec.schema.typeName }
      : { subject, kind: spec.kind, description: spec.description, messageType: spec.request.typeName, responseType: spec.response.typeName },
  );
}
