import { busV1, create, fromBinary, timestampDate, timestampFromDate, toBinary, type DescMessage, type MessageShape } from '@clopen/proto';
import { headers as natsHeaders, type MsgHdrs } from 'nats';
import { v7 as uuidv7 } from 'uuid';
import { currentCause } from './causation';
import { EnvelopeDecodeError } from './errors';
import { envelopeSchema, isSubject, type EnvelopeInit, type EnvelopePayload, type Subject } from './subjects';

export type Envelope = busV1.Envelope;

export interface EnvelopeContext {
  /** Service or partner producing the message, e.g. "storage". */
  producer: string;
  /** Defaults to causedBy's correlation id, else to the new message's own id (a root message). */
  correlationId?: string;
  /** Defaults to causedBy's id. */
  causationId?: string;
  /** The message being handled that caused this one. */
  causedBy?: Pick<Envelope, 'id' | 'correlationId'>;
  /** For tests and replays; normally generated (uuid v7) and now. */
  id?: string;
  occurredAt?: Date;
}

export const HEADER = {
  msgId: 'Nats-Msg-Id',
  producer: 'Clopen-Producer',
  correlationId: 'Clopen-Correlation-Id',
  causationId: 'Clopen-Causation-Id',
  occurredAt: 'Clopen-Occurred-At',
  subject: 'Clopen-Subject',
  error: 'Clopen-Error',
  deadReason: 'Clopen-Dead-Reason',
  deadConsumer: 'Clopen-Dead-Consumer',
  deadAttempts: 'Clopen-Dead-Attempts',
  /** When JetStream first stored the message a consumer gave up on (ms since the epoch). */
  deadStoredAt: 'Clopen-Dead-Stored-At',
} as const;

export function newEnvelope<S extends Subject>(subject: S, payload: EnvelopeInit<S>, ctx: EnvelopeContext): Envelope {
  const schema = envelopeSchema(subject);
  const id = ctx.id ?? uuidv7();
  // Inside a handler (withCause), a message that names no cause of its own is caused by what is handled.
  const inherited = ctx.causedBy || ctx.correlationId || ctx.causationId ? undefined : currentCause();
  return create(busV1.EnvelopeSchema, {
    id,
    subject,
    occurredAt: timestampFromDate(ctx.occurredAt ?? new Date()),
    producer: ctx.producer,
    correlationId: ctx.correlationId ?? ctx.causedBy?.correlationId ?? inherited?.correlationId ?? id,
    causationId: ctx.causationId ?? ctx.causedBy?.id ?? inherited?.causationId ?? '',
    payload: toBinary(schema, create(schema, payload as never)),
  });
}

export function encodeEnvelope(envelope: Envelope): Uint8Array {
  return toBinary(busV1.EnvelopeSchema, envelope);
}

export type DecodedEnvelope<S extends Subject = Subject> = S extends Subject ? { envelope: Envelope; subject: S; payload: EnvelopePayload<S> } : never;

/** Decodes an envelope and its payload with the schema its subject names in SUBJECTS. */
export function decodeEnvelope<S extends Subject = Subject>(bytes: Uint8Array, expected?: S): DecodedEnvelope<S> {
  let envelope: Envelope;
  try {
    envelope = fromBinary(busV1.EnvelopeSchema, bytes);
  } catch (err) {
    throw new EnvelopeDecodeError(`not a clopen.bus.v1.Envelope: ${(err as Error).message}`);
  }
  const subject = envelope.subject;
  if (!isSubject(subject)) throw new EnvelopeDecodeError(`envelope ${envelope.id} has unknown subject "${subject}"`);
  if (expected !== undefined && subject !== expected) {
    throw new EnvelopeDecodeError(`envelope ${envelope.id} is for "${subject}", expected "${expected}"`);
  }
  if (!envelope.id) throw new EnvelopeDecodeError(`envelope on "${subject}" has no id`);
  let payload: MessageShape<DescMessage>;
  try {
    payload = fromBinary(envelopeSchema(subject), envelope.payload);
  } catch (err) {
    throw new EnvelopeDecodeError(`payload of envelope ${envelope.id} is not a valid ${envelopeSchema(subject).typeName}: ${(err as Error).message}`);
  }
  return { envelope, subject, payload } as unknown as DecodedEnvelope<S>;
}

/** NATS headers mirroring the envelope, so that JetStream de-duplicates and routers need not decode. */
export function envelopeHeaders(envelope: Envelope, hdrs: MsgHdrs = natsHeaders()): MsgHdrs {
  hdrs.set(HEADER.msgId, envelope.id);
  hdrs.set(HEADER.subject, envelope.subject);
  hdrs.set(HEADER.producer, envelope.producer);
  hdrs.set(HEADER.correlationId, envelope.correlationId);
  if (envelope.causationId) hdrs.set(HEADER.causationId, envelope.causationId);
  if (envelope.occurredAt) hdrs.set(HEADER.occurredAt, timestampDate(envelope.occurredAt).toISOString());
  return hdrs;
}

/** Header values are one line; keep reasons readable and bounded. */
export function headerValue(text: string, max = 512): string {
  const line = text.replace(/[\r\n]+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}
