// Who may publish and read what on the bus, derived from the tables of subjects and streams. The NATS
// server configuration (infra/nats) is written from this: one account for the platform, holding one
// user per service, and one account per partner that sees nothing of the platform but its imports.
import { durableName } from './consumer/consume';
import { consumerName } from './consumer/consume-batches';
import { deadLetterSubject } from './namespace';
import {
  PARTNER_JS_API_PREFIX,
  anyPartnerSubject,
  assertPartnerId,
  partnerAddressedSubjects,
  partnerPublishedSubjects,
  partnerReaderName,
  partnerSubject,
} from './partners';
import { streamNames, streamOf, subjectMatches, type StreamName } from './streams';
import { SUBJECTS, type EventSubject, type SubjectSpec } from './subjects';

/** The platform's NATS account: every service, and every stream. */
export const PLATFORM_ACCOUNT = 'CLOPEN';

/** What one service does on the bus. Its NATS permissions follow from it (servicePermissions). */
export interface ServiceGrant {
  /** Its bounded context: it publishes `<context>.>` and no other context's events. */
  readonly context: string;
  /** Events (patterns over SUBJECTS) it consumes, with durables named after the service (consume, consumeBatches, @EventPattern). */
  readonly consumes?: readonly string[];
  /** Events whose partners' messages it consumes (consumeBatches with fromPartners). */
  readonly consumesFromPartners?: readonly EventSubject[];
  /** Requests it sends. */
  readonly requests?: readonly string[];
  /** Requests it answers; each request subject has exactly one service answering it. */
  readonly answers?: readonly string[];
}

/**
 * Every service that connects to NATS, by its bus producer name (its ServiceDefinition name, also
 * the prefix of its durables), and what it does there. A service that starts consuming or asking
 * something new adds it here; without it the server refuses with a permissions violation naming the
 * subject. Processes partners run (the host gateway) are not here: they are partners.
 */
export const SERVICE_GRANTS = {
  storage: { context: 'storage', answers: ['storage.model.get', 'storage.version.get'] },
  distribution: {
    context: 'distribution',
    consumes: [
      'storage.version.published',
      'chain.registry.version_published',
      'chain.collateral.staked',
      'chain.collateral.slash_proposed',
      'chain.collateral.slash_executed',
      'chain.blocks.reorged',
    ],
    requests: ['storage.model.get', 'storage.version.get'],
    answers: ['distribution.challenge.open', 'distribution.challenge.trace'],
  },
  // its copies' progress is distribution's: distribution.embedding.progressed
  embedder: { context: 'distribution' },
  access: {
    context: 'access',
    consumes: ['access.usage.reported', 'distribution.licence.granted', 'distribution.licence.ended'],
    consumesFromPartners: ['access.usage.reported'],
    requests: ['storage.model.get', 'distribution.challenge.open', 'distribution.challenge.trace'],
  },
  chain_indexer: { context: 'chain' },
  incentives: {
    context: 'incentives',
    consumes: [
      'access.epoch.closed',
      'access.violation.proven',
      'distribution.assignment.committed',
      'storage.version.published',
      'chain.registry.version_published',
      'chain.collateral.slash_appealed',
      'chain.blocks.reorged',
    ],
  },
} as const satisfies Record<string, ServiceGrant>;

export type ServiceName = keyof typeof SERVICE_GRANTS;

/** NATS user permissions, as in the server configuration's `permissions` block. */
export interface NatsPermissions {
  publish: { allow: string[]; deny?: string[] };
  subscribe: { allow: string[]; deny?: string[] };
  /** Publish to the reply subject of each request received, once: what a responder needs. */
  allow_responses?: boolean;
}

/** A service's reply subjects start with this (BusOptions.inboxPrefix), so no other service receives its replies. */
export function serviceInbox(service: string): string {
  return `_INBOX_${service}`;
}

/** The event subjects of the table that a pattern names. */
function eventsMatching(pattern: string): EventSubject[] {
  const events = (Object.entries(SUBJECTS) as [EventSubject, SubjectSpec][])
    .filter(([s, spec]) => spec.kind === 'event' && subjectMatches(pattern, s))
    .map(([s]) => s);
  if (!events.length) throw new Error(`"${pattern}" names no event subject in libs/bus/src/subjects.ts`);
  return events;
}

function requestsMatching(pattern: string): string[] {
  const requests = (Object.entries(SUBJECTS) as [string, SubjectSpec][])
    .filter(([s, spec]) => spec.kind === 'request' && subjectMatches(pattern, s))
    .map(([s]) => s);
  if (!requests.length) throw new Error(`"${pattern}" names no request subject in libs/bus/src/subjects.ts`);
  return requests;
}

/** A durable pull consumer of a service: where it lives, its name, what it filters. */
interface Durable {
  stream: StreamName;
  name: string;
  filter: string;
}

function durablesOf(service: ServiceName): Durable[] {
  const grant: ServiceGrant = SERVICE_GRANTS[service];
  const own = [...new Set((grant.consumes ?? []).flatMap(eventsMatching))].map((subject) => ({
    stream: streamOf(subject),
    name: durableName(service, subject),
    filter: subject,
  }));
  const partners = (grant.consumesFromPartners ?? []).map((subject) => ({
    stream: streamOf(subject),
    name: consumerName(service, subject, true),
    filter: anyPartnerSubject(subject),
  }));
  return [...own, ...partners];
}

/**
 * A service publishes its context's subjects, the requests it sends and the dead letters of what it
 * consumes; it may create and update every stream (each service ensures them at start) but delete or
 * purge none; it creates, reads, pulls from and acks its own durables only, each with its filter; it
 * receives on its own inbox and on the requests it answers. No service may publish a partner's subject.
 */
export function servicePermissions(service: ServiceName): NatsPermissions {
  const grant: ServiceGrant = SERVICE_GRANTS[service];
  const durables = durablesOf(service);
  const answers = (grant.answers ?? []).flatMap(requestsMatching);
  const publish = [
    `${grant.context}.>`,
    ...(grant.requests ?? []).flatMap(requestsMatching),
    ...durables.map((d) => deadLetterSubject(d.filter)),
    '$JS.API.INFO',
    ...streamNames().flatMap((s) => [`$JS.API.STREAM.INFO.${s}`, `$JS.API.STREAM.CREATE.${s}`, `$JS.API.STREAM.UPDATE.${s}`]),
    // An admin lists and redrives the service's dead letters through its REST API (consumer/dead-letters.ts).
    '$JS.API.STREAM.MSG.GET.DLQ',
    ...durables.flatMap((d) => [
      `$JS.API.CONSUMER.CREATE.${d.stream}.${d.name}.${d.filter}`,
      `$JS.API.CONSUMER.INFO.${d.stream}.${d.name}`,
      `$JS.API.CONSUMER.MSG.NEXT.${d.stream}.${d.name}`,
      `$JS.ACK.${d.stream}.${d.name}.>`,
    ]),
  ];
  return {
    publish: { allow: [...new Set(publish)], deny: partnerPublishedSubjects().map(anyPartnerSubject) },
    subscribe: { allow: [`${serviceInbox(service)}.>`, ...answers] },
    ...(answers.length ? { allow_responses: true } : {}),
  };
}

/** The JetStream API of the one stream every partner may read, REVOCATIONS: consumers of their own, read-only. */
const PARTNER_STREAM: StreamName = 'REVOCATIONS';
/** The stream of events addressed to one partner each. */
const PARTNER_COPIES: StreamName = 'PARTNERS';
interface PartnerApi {
  /** The subject in the platform's account. */
  platform: string;
  /** Where the partner's account imports it. */
  partner: string;
  /** One request is answered by many messages (a pull). */
  responses?: 'stream';
}
const underPartnerPrefix = (apis: { api: string; responses?: 'stream' }[]): PartnerApi[] =>
  apis.map(({ api, responses }) => ({ platform: `$JS.API.${api}`, partner: `${PARTNER_JS_API_PREFIX}.${api}`, ...(responses ? { responses } : {}) }));
const partnerJsApi = (): PartnerApi[] =>
  underPartnerPrefix([
    { api: `STREAM.INFO.${PARTNER_STREAM}` },
    { api: `CONSUMER.CREATE.${PARTNER_STREAM}.>` },
    { api: `CONSUMER.INFO.${PARTNER_STREAM}.*` },
    { api: `CONSUMER.DELETE.${PARTNER_STREAM}.*` },
    // a pull is answered by many messages
    { api: `CONSUMER.MSG.NEXT.${PARTNER_STREAM}.*`, responses: 'stream' },
  ]);

/**
 * One partner's own reading of the events addressed to it (PARTNERS, `<subject>.<id>`): for each such
 * subject, one durable of a fixed name (partnerReaderName) that only this partner may create, and only
 * with its own filter (the server checks the filter in the create subject against the request), read,
 * pull from, delete and ack. No other partner has these imports, so none can read another's copies.
 */
const partnerOwnApi = (partner: string): PartnerApi[] =>
  partnerAddressedSubjects().flatMap((subject) => {
    const name = partnerReaderName(subject, partner);
    const ack = `$JS.ACK.${PARTNER_COPIES}.${name}.>`;
    return [
      ...underPartnerPrefix([
        { api: `CONSUMER.CREATE.${PARTNER_COPIES}.${name}.${partnerSubject(subject, partner)}` },
        { api: `CONSUMER.INFO.${PARTNER_COPIES}.${name}` },
        { api: `CONSUMER.DELETE.${PARTNER_COPIES}.${name}` },
        { api: `CONSUMER.MSG.NEXT.${PARTNER_COPIES}.${name}`, responses: 'stream' },
      ]),
      // an ack is published on the message's reply subject, which names the stream and the consumer
      { platform: ack, partner: ack },
    ];
  });
/**
 * A partner (in its own account) publishes the events partners may publish, which its imports carry
 * to the platform under its id, the read-only JetStream API of REVOCATIONS under
 * PARTNER_JS_API_PREFIX, and that of its own durables on PARTNERS; it receives on inboxes only. Its
 * account holds nothing else, so these permissions are a second wall: the first is that no other
 * partner's or platform subject exists there.
 */
export function partnerPermissions(partner: string): NatsPermissions {
  return {
    publish: { allow: [...partnerPublishedSubjects(), ...[...partnerJsApi(), ...partnerOwnApi(partner)].map((a) => a.partner)] },
    subscribe: { allow: ['_INBOX.>'] },
  };
}

/** A service the platform's account exports: who may import it, and whether one request gets many answers. */
export interface NatsServiceExport {
  service: string;
  accounts: string[];
  responses?: 'stream';
}

/** A service a partner's account imports from the platform's, under its local subject. */
export interface NatsServiceImport {
  account: string;
  subject: string;
  to: string;
}

export interface NatsAccount {
  name: string;
  jetstream: boolean;
  users: { nkey: string; comment: string; permissions: NatsPermissions }[];
  exports: NatsServiceExport[];
  imports: NatsServiceImport[];
}

export interface BusIdentities {
  /** Public user nkeys (`U…`) per service; several during a key rotation. */
  services: Partial<Record<ServiceName, readonly string[]>>;
  /** Public user nkeys per partner id. */
  partners: Readonly<Record<string, readonly string[]>>;
}

/** The NATS account name of a partner. */
export function partnerAccount(partner: string): string {
  assertPartnerId(partner);
  return `PARTNER_${partner}`;
}

const USER_NKEY = /^U[A-Z2-7]{55}$/;

function assertUserNkey(key: string, whose: string): void {
  if (!USER_NKEY.test(key)) throw new Error(`${whose}: "${key}" is not a public user nkey (U followed by 55 base32 characters)`);
}

/**
 * The accounts of a deployment: the platform's, with its services' users and an export per partner
 * of that partner's subjects only, and one per partner importing them under the names the host SDK
 * uses (a partner publishes `access.usage.reported`; the platform receives `access.usage.reported.<id>`).
 */
export function natsAccounts(identities: BusIdentities): NatsAccount[] {
  const partners = Object.keys(identities.partners).sort();
  const partnerAccounts = partners.map(partnerAccount);
  const platform: NatsAccount = {
    name: PLATFORM_ACCOUNT,
    jetstream: true,
    users: (Object.entries(identities.services) as [ServiceName, readonly string[]][]).flatMap(([service, keys]) => {
      if (!(service in SERVICE_GRANTS)) throw new Error(`unknown service "${service}": add its grant to SERVICE_GRANTS in libs/bus/src/permissions.ts`);
      return keys.map((nkey) => (assertUserNkey(nkey, service), { nkey, comment: `service ${service}`, permissions: servicePermissions(service) }));
    }),
    exports: [
      ...partners.flatMap((p) => partnerPublishedSubjects().map((s) => ({ service: partnerSubject(s, p), accounts: [partnerAccount(p)] }))),
      ...(partners.length
        ? partnerJsApi().map((a) => ({ service: a.platform, accounts: partnerAccounts, ...(a.responses ? { responses: a.responses } : {}) }))
        : []),
      ...partners.flatMap((p) =>
        partnerOwnApi(p).map((a) => ({ service: a.platform, accounts: [partnerAccount(p)], ...(a.responses ? { responses: a.responses } : {}) })),
      ),
    ],
    imports: [],
  };
  const accounts = partners.map((p) => ({
    name: partnerAccount(p),
    jetstream: false,
    users: identities.partners[p].map((nkey) => (assertUserNkey(nkey, `partner ${p}`), { nkey, comment: `partner ${p}`, permissions: partnerPermissions(p) })),
    exports: [],
    imports: [
      ...partnerPublishedSubjects().map((s) => ({ account: PLATFORM_ACCOUNT, subject: partnerSubject(s, p), to: s })),
      ...[...partnerJsApi(), ...partnerOwnApi(p)].map((a) => ({ account: PLATFORM_ACCOUNT, subject: a.platform, to: a.partner })),
    ],
  }));
  const seen = new Map<string, string>();
  for (const account of [platform, ...accounts]) {
    for (const user of account.users) {
      const other = seen.get(user.nkey);
      if (other) throw new Error(`nkey ${user.nkey} is given to both ${other} and ${user.comment}: every identity needs its own key`);
      seen.set(user.nkey, user.comment);
    }
  }
  return [platform, ...accounts];
}
