// Partners run hosts of their own and hold NATS credentials of their own account (infra/nats). What a
// partner publishes on an event subject that allows it (EventSpec.fromPartners) reaches the platform's
// account as `<subject>.<partner id>`: the server's import adds the id, so a message's subject names
// the partner that sent it and no partner can publish as another. The other way, an event about a
// partner's own messages (EventSpec.toPartners) is published again on `<subject>.<partner id>` into the
// PARTNERS stream, where that partner alone may read it, with a durable consumer of a fixed name.
import { SUBJECTS, eventSpec, type EventSubject, type SubjectSpec } from './subjects';

const PARTNER_ID = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/**
 * Where a partner's account reaches the platform's JetStream API for the streams it may read
 * (REVOCATIONS): its own account has no JetStream, and `$JS.API` there answers "not enabled".
 */
export const PARTNER_JS_API_PREFIX = '$JS.clopen.API';

export function isPartnerId(id: string): boolean {
  return PARTNER_ID.test(id);
}

export function assertPartnerId(id: string): void {
  if (!isPartnerId(id)) {
    throw new Error(`partner id "${id}" is invalid: use 1 to 63 lower-case letters, digits, "_" or "-", starting with a letter or digit`);
  }
}

/** The event subjects partners may publish. */
export function partnerPublishedSubjects(): EventSubject[] {
  return (Object.entries(SUBJECTS) as [EventSubject, SubjectSpec][])
    .filter(([, spec]) => spec.kind === 'event' && spec.fromPartners)
    .map(([subject]) => subject);
}

/** The event subjects the platform also addresses to the partner they concern. */
export function partnerAddressedSubjects(): EventSubject[] {
  return (Object.entries(SUBJECTS) as [EventSubject, SubjectSpec][]).filter(([, spec]) => spec.kind === 'event' && spec.toPartners).map(([subject]) => subject);
}

function assertFromPartners(subject: EventSubject): void {
  const spec = eventSpec(subject);
  if (!spec.fromPartners && !spec.toPartners)
    throw new Error(`"${subject}" is neither published by partners nor addressed to them (fromPartners, toPartners in libs/bus/src/subjects.ts)`);
}

/**
 * The name of the one durable consumer through which a partner reads its copies of `subject` in the
 * PARTNERS stream: its account may create, read, pull from and ack that consumer alone, and only
 * with the filter `<subject>.<partner id>`.
 */
export function partnerReaderName(subject: EventSubject, partner: string): string {
  if (!eventSpec(subject).toPartners) throw new Error(`"${subject}" is not addressed to partners (toPartners in libs/bus/src/subjects.ts)`);
  assertPartnerId(partner);
  return `${partner}__${subject.replace(/\./g, '_')}`;
}

/** The platform-side subject of one partner's message on `subject`, or of the platform's copy of it for that partner. */
export function partnerSubject(subject: EventSubject, partner: string): string {
  assertFromPartners(subject);
  assertPartnerId(partner);
  return `${subject}.${partner}`;
}

/** The pattern of every partner's messages on `subject` (or copies for partners): `<subject>.*`. */
export function anyPartnerSubject(subject: EventSubject): string {
  assertFromPartners(subject);
  return `${subject}.*`;
}

/** The partner an un-prefixed platform-side subject names; undefined for the platform's own `subject`. */
export function partnerOf(subject: EventSubject, platformSubject: string): string | undefined {
  if (!platformSubject.startsWith(`${subject}.`)) return undefined;
  const partner = platformSubject.slice(subject.length + 1);
  return isPartnerId(partner) ? partner : undefined;
}
