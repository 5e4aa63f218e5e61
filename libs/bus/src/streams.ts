import { DiscardPolicy, RetentionPolicy, StorageType, nanos, type StreamConfig } from 'nats';
import { namespacedStream, namespacedSubject } from './namespace';
import { SUBJECTS, type SubjectSpec } from './subjects';

export interface StreamSpec {
  readonly description: string;
  /** Explicit capture subjects; when absent the stream captures the events that name it in SUBJECTS. */
  readonly subjects?: readonly string[];
  /**
   * A read-only copy of one event subject of another stream, history included, for readers that may
   * see nothing else of that stream: a partner's account may read this stream only (infra/nats).
   */
  readonly mirror?: { readonly stream: string; readonly subject: string };
  /** It captures the copies of events addressed to partners (EventSpec.toPartners): `<subject>.*`. */
  readonly partnerCopies?: true;
}

/** Every JetStream stream. Adding one is adding one line here. */
export const STREAMS = {
  STORAGE: { description: 'Facts about models and versions, produced by storage.' },
  DISTRIBUTION: { description: 'Facts about licences, fingerprint pools, assignments, copies and traces, produced by distribution and its embedder.' },
  ACCESS: { description: 'Facts about grants (permission strings), usage and epochs, produced by access.' },
  CHAIN: { description: 'Logs of the Clopen contracts after their confirmations, and reorgs, produced by the chain indexer.' },
  DLQ: { description: 'Messages a consumer gave up on, on dlq.<original subject>.', subjects: ['dlq.>'] },
  REVOCATIONS: {
    description: "Revoked grants alone, mirrored from ACCESS: what hosts follow (RevocationFeed), partners' hosts included, who may read no other stream.",
    mirror: { stream: 'ACCESS', subject: 'access.grant.revoked' },
  },
  PARTNERS: {
    description:
      "Events addressed to one partner, on <subject>.<partner id> (the refusals of the receipts it reported): each partner's account reads its own through one durable of a fixed name.",
    partnerCopies: true,
  },
} as const satisfies Record<string, StreamSpec>;

export type StreamName = keyof typeof STREAMS;

/** JetStream drops a second message with the same Nats-Msg-Id within this window. */
export const DUPLICATE_WINDOW_MS = 2 * 60_000;

/**
 * Un-prefixed subjects a stream captures: an event published by partners also as `<subject>.*`, where
 * their messages arrive (src/partners.ts). A mirror captures none; it copies its origin.
 */
export function streamSubjects(name: StreamName): string[] {
  const spec: StreamSpec = STREAMS[name];
  if (spec.mirror) return [];
  if (spec.subjects) return [...spec.subjects];
  if (spec.partnerCopies) {
    return (Object.entries(SUBJECTS) as [string, SubjectSpec][]).filter(([, s]) => s.kind === 'event' && s.toPartners).map(([subject]) => `${subject}.*`);
  }
  return (Object.entries(SUBJECTS) as [string, SubjectSpec][])
    .filter(([, s]) => s.kind === 'event' && s.stream === name)
    .flatMap(([subject, s]) => (s.kind === 'event' && s.fromPartners ? [subject, `${subject}.*`] : [subject]));
}

/** The stream that stores an event subject. */
export function streamOf(subject: string): StreamName {
  const spec = (SUBJECTS as Record<string, SubjectSpec>)[subject];
  if (!spec || spec.kind !== 'event') throw new Error(`"${subject}" is not an event subject in libs/bus/src/subjects.ts`);
  return spec.stream;
}

/** NATS subject wildcard match: `*` one token, `>` the rest. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

/** `replicas`: copies of each stream in a NATS cluster (BUS_STREAM_REPLICAS; 3 in production, at most the cluster's size). */
export function streamConfig(name: StreamName, namespace = '', replicas = 1): Partial<StreamConfig> & { name: string } {
  const spec: StreamSpec = STREAMS[name];
  if (spec.mirror) {
    return {
      name: namespacedStream(namespace, name),
      description: spec.description,
      mirror: { name: namespacedStream(namespace, spec.mirror.stream), filter_subject: namespacedSubject(namespace, spec.mirror.subject) },
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      num_replicas: replicas,
    };
  }
  const subjects = streamSubjects(name);
  // A stream that captured a request subject would answer every request with a PubAck.
  for (const [subject, s] of Object.entries(SUBJECTS) as [string, SubjectSpec][]) {
    if (s.kind === 'request' && subjects.some((p) => subjectMatches(p, subject))) {
      throw new Error(`stream ${name} captures request subject "${subject}"; streams may capture events only`);
    }
  }
  return {
    name: namespacedStream(namespace, name),
    description: spec.description,
    subjects: subjects.map((s) => namespacedSubject(namespace, s)),
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    num_replicas: replicas,
  };
}

export function streamNames(): StreamName[] {
  return Object.keys(STREAMS) as StreamName[];
}
