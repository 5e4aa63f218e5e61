// Partners run hosts of their own and hold NATS credentials of their own account (infra/nats). What a
// partner publishes on an event subject that allows it (EventSpec.fromPartners) reaches the platform's
// account as `<subject>.<partner id>`: the server's import adds the id, so a message's subject names
// the partner that sent it and no partner can publish as another.
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

function assertFromPartners(subject: EventSubject): void {
  if (!eventSpec(subject).fromPartners) throw new Error(`"${subject}" is not published by partners (fromPartners in libs/bus/src/subjects.ts)`);
}

/** The platform-side subject of one partner's message on `subject`. */
export function partnerSubject(subject: EventSubject, partner: string): string {
  assertFromPartners(subject);
  assertPartnerId(partner);
  return `${subject}.${partner}`;
}

/** The pattern of every partner's messages on `subject`: `<subject>.*`. */
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
