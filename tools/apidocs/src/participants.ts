import {
  PARTNER_JS_API_PREFIX,
  SERVICE_GRANTS,
  SUBJECTS,
  anyPartnerSubject,
  consumerName,
  durableName,
  partnerAddressedSubjects,
  partnerPublishedSubjects,
  subjectMatches,
  type EventSubject,
  type ServiceGrant,
  type ServiceName,
  type Subject,
} from '@clopen/bus';

/** A service (its folder under services/) or `partner`: a partner's own process in its own NATS account. */
export type Participant = string;

export const PARTNER: Participant = 'partner';

/** The stream a partner's account may read, under PARTNER_JS_API_PREFIX (libs/bus permissions.ts, infra/nats). */
export const PARTNER_STREAM = 'REVOCATIONS';

/** A service's folder under services/ from its bus name (SERVICE_GRANTS, the ServiceDefinition's name). */
export const serviceFolder = (name: string): Participant => name.replace(/_/g, '-');

/**
 * The service that owns a context publishes its events: the one whose bus name is the context
 * (`storage.*` is storage's), else the one named here.
 */
const CONTEXT_OWNERS: Readonly<Record<string, ServiceName>> = { chain: 'chain_indexer' };

/** Events of a context that its owner does not publish: partners and hosts report usage to access. */
const PUBLISHED_BY_OTHERS: readonly Subject[] = partnerPublishedSubjects();

export function ownerOf(subject: string): Participant {
  const context = subject.split('.')[0];
  return serviceFolder(CONTEXT_OWNERS[context] ?? context);
}

export interface Participation {
  participant: Participant;
  /** Events it publishes; NATS wildcards (`*`, `>`) allowed. */
  sends?: readonly string[];
  /** Events it consumes. */
  receives?: readonly string[];
  /** It receives the copies addressed to partners (`<subject>.{partnerId}`), not the subject itself. */
  toPartners?: boolean;
  /** How it does so: shown on the operation. */
  how: string;
}

/**
 * What SERVICE_GRANTS does not say: a service that publishes some of a context it shares, and the
 * processes partners run. (Consumers, requests and answers of services are SERVICE_GRANTS'.) A test
 * reads every service's code for the subjects it names and fails when one is not accounted for.
 */
export const PARTICIPATION: readonly Participation[] = [
  {
    participant: 'embedder',
    sends: ['distribution.embedding.progressed'],
    how: "The embedder worker reports the phase and percent of the copy job it runs straight to JetStream (progress is not state, so no outbox); distribution publishes the job's end.",
  },
  {
    participant: 'host-gateway',
    sends: ['access.usage.reported'],
    how: "The reference host, a partner's process in the partner's account, reports its receipts in batches signed once by its serving key, through a write-ahead spool (libs/host-sdk ReceiptPublisher): a batch is retried with the same Nats-Msg-Id until JetStream acknowledges it. The platform receives them on access.usage.reported.<partner id>.",
  },
  {
    participant: 'host-gateway',
    receives: ['access.grant.revoked'],
    how: `RevocationFeed (libs/host-sdk): an ordered consumer of the ${PARTNER_STREAM} stream (a mirror of access.grant.revoked) from its start, then following it; in a partner's account through ${PARTNER_JS_API_PREFIX}.`,
  },
  {
    participant: PARTNER,
    sends: partnerPublishedSubjects(),
    how: 'A partner publishes in its own NATS account; the server hands the message to the platform on <subject>.<partner id>, so it names the partner and no partner can send as another. See docs/partners.md.',
  },
  {
    participant: PARTNER,
    receives: partnerAddressedSubjects(),
    toPartners: true,
    how: `The platform's copy for the partner it concerns, on <subject>.<partner id> in the PARTNERS stream: the partner reads it through its own durable (partnerReaderName, e.g. <id>__access_usage_rejected), which only its account may create, with that filter only, through ${PARTNER_JS_API_PREFIX}; libs/host-sdk RejectionFeed. See docs/partners.md.`,
  },
  {
    participant: PARTNER,
    receives: ['access.grant.revoked'],
    how: `A consumer of the partner's own on the ${PARTNER_STREAM} stream (a mirror of access.grant.revoked, the one stream a partner's account may read), through ${PARTNER_JS_API_PREFIX}. See docs/partners.md.`,
  },
];

export interface Role {
  participant: Participant;
  action: 'send' | 'receive';
  /** The operation is on the channel of the partners' copies of the subject (`<subject>.{partnerId}`). */
  fromPartners?: boolean;
  /** The operation is on the channel of the copies addressed to partners (`<subject>.{partnerId}`, PARTNERS). */
  toPartners?: boolean;
  how: string;
}

const grants = Object.entries(SERVICE_GRANTS) as [ServiceName, ServiceGrant][];
const matchesAny = (patterns: readonly string[] | undefined, subject: string) => (patterns ?? []).some((p) => subjectMatches(p, subject));

/** Who sends and who receives a subject: its owner, the services as SERVICE_GRANTS says, then the table. */
export function rolesOf(subject: Subject): Role[] {
  const spec = SUBJECTS[subject];
  const roles: Role[] = [];
  if (spec.kind === 'event' && !PUBLISHED_BY_OTHERS.includes(subject)) {
    const owner = ownerOf(subject);
    roles.push({ participant: owner, action: 'send', how: `The ${owner} service publishes it from its outbox, in the transaction that makes the change.` });
  }
  for (const [name, grant] of grants) {
    const service = serviceFolder(name);
    if (spec.kind === 'request') {
      if (matchesAny(grant.answers, subject))
        roles.push({ participant: service, action: 'receive', how: `The ${service} service answers; its replicas share the requests in one queue group.` });
      if (matchesAny(grant.requests, subject)) roles.push({ participant: service, action: 'send', how: `The ${service} service asks.` });
      continue;
    }
    if (matchesAny(grant.consumes, subject)) {
      roles.push({
        participant: service,
        action: 'receive',
        how: `Durable consumer ${durableName(name, subject)}: explicit acks, each envelope handled once, dead letters to dlq.${subject}.`,
      });
    }
    if ((grant.consumesFromPartners ?? []).includes(subject as EventSubject)) {
      roles.push({
        participant: service,
        action: 'receive',
        fromPartners: true,
        how: `Durable consumer ${consumerName(name, subject as EventSubject, true)} of ${anyPartnerSubject(subject as EventSubject)}: each message names the partner that sent it.`,
      });
    }
  }
  for (const p of PARTICIPATION) {
    if (matchesAny(p.sends, subject)) roles.push({ participant: p.participant, action: 'send', how: p.how });
    if (matchesAny(p.receives, subject))
      roles.push({ participant: p.participant, action: 'receive', how: p.how, ...(p.toPartners ? { toPartners: true } : {}) });
  }
  return roles;
}
