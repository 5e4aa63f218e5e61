import { timestampDate } from '@clopen/proto';
import type { NatsError, StoredMsg } from 'nats';
import type { Bus } from '../bus';
import { decodeEnvelope, HEADER } from '../envelope';
import { DLQ_PREFIX, stripNamespace } from '../namespace';

/** A message a consumer gave up on, as an admin sees it in the DLQ stream. */
export interface DeadLetter {
  /** Its sequence in the DLQ stream: what a redrive names. */
  seq: number;
  /** The subject it was published on (un-namespaced, without the `dlq.` prefix). */
  subject: string;
  /** The consumer (its durable, e.g. "distribution") that gave up. */
  consumer: string;
  reason: string;
  attempts: number;
  deadAt: Date;
  /** The event's envelope, unless its bytes did not decode (then the reason says why). */
  envelope?: { id: string; producer: string; correlationId: string; causationId: string; occurredAt?: Date };
}

/** What runs a dead letter's event again through the consumer that gave up on it. */
export type Redriver = (data: Uint8Array, subject: string, storedAt: number) => Promise<'handled' | 'already_processed'>;

interface Registered {
  matches: (subject: string) => boolean;
  run: Redriver;
}

/** The redrivers of each durable started on a bus in this process (consume and consumeBatches register theirs). */
const redrivers = new WeakMap<Bus, Map<string, Registered[]>>();

export function registerRedriver(bus: Bus, durable: string, matches: (subject: string) => boolean, run: Redriver): () => void {
  const byDurable = redrivers.get(bus) ?? new Map<string, Registered[]>();
  redrivers.set(bus, byDurable);
  const entry = { matches, run };
  byDurable.set(durable, [...(byDurable.get(durable) ?? []), entry]);
  return () =>
    byDurable.set(
      durable,
      (byDurable.get(durable) ?? []).filter((e) => e !== entry),
    );
}

export class DeadLetterNotFound extends Error {
  readonly code = 'not_found';
}
export class DeadLetterNotRedrivable extends Error {
  readonly code = 'conflict';
}

/** The dead letter at a sequence of the DLQ stream, or undefined. */
async function deadLetterAt(bus: Bus, seq: number): Promise<{ letter: DeadLetter; data: Uint8Array; storedAt: number } | undefined> {
  const m = await bus.jsm.streams.getMessage(bus.stream('DLQ'), { seq }).catch((e: NatsError) => {
    if (e.api_error?.err_code === 10037 || /no message found/i.test(e.message)) return undefined;
    throw e;
  });
  return m ? { letter: toDeadLetter(bus, m), data: m.data, storedAt: Number(m.header?.get(HEADER.deadStoredAt)) || m.time.getTime() } : undefined;
}

function toDeadLetter(bus: Bus, m: StoredMsg): DeadLetter {
  const subject = stripNamespace(bus.namespace, m.subject).slice(DLQ_PREFIX.length + 1);
  const header = (name: string) => m.header?.get(name) ?? '';
  let envelope: DeadLetter['envelope'];
  try {
    const { envelope: e } = decodeEnvelope(m.data);
    envelope = {
      id: e.id,
      producer: e.producer,
      correlationId: e.correlationId,
      causationId: e.causationId,
      ...(e.occurredAt ? { occurredAt: timestampDate(e.occurredAt) } : {}),
    };
  } catch {
    envelope = undefined;
  }
  return {
    seq: m.seq,
    subject,
    consumer: header(HEADER.deadConsumer),
    reason: header(HEADER.deadReason),
    attempts: Number(header(HEADER.deadAttempts)) || 0,
    deadAt: m.time,
    ...(envelope ? { envelope } : {}),
  };
}

/**
 * The dead letters in the DLQ stream, oldest first, after sequence `after`: those of `consumer`
 * (and of `subject`) only when given. At most `limit`; at most `scan` messages are read per call,
 * so a large DLQ pages instead of being read whole (the next page starts after the last seq seen).
 */
export async function listDeadLetters(
  bus: Bus,
  options: { consumer?: string; subject?: string; after?: number; limit?: number; scan?: number } = {},
): Promise<{ deadLetters: DeadLetter[]; next?: number }> {
  const limit = Math.min(Math.max(options.limit ?? 100, 1), 1000);
  const { state } = await bus.jsm.streams.info(bus.stream('DLQ'));
  const out: DeadLetter[] = [];
  let seq = Math.max((options.after ?? 0) + 1, state.first_seq);
  let scanned = 0;
  for (; state.messages > 0 && seq <= state.last_seq && out.length < limit && scanned < (options.scan ?? 10_000); seq++, scanned++) {
    const found = await deadLetterAt(bus, seq);
    if (!found) continue;
    if (options.consumer && found.letter.consumer !== options.consumer) continue;
    if (options.subject && found.letter.subject !== options.subject) continue;
    out.push(found.letter);
  }
  return { deadLetters: out, ...(seq <= state.last_seq ? { next: seq - 1 } : {}) };
}

/**
 * Runs a dead letter's event again through the consumer that gave up on it, in this process (the
 * same idempotent transaction as a delivery: once handled, its processed-message row says so, and a
 * second redrive does nothing). The DLQ keeps the letter as history: no service may delete from a
 * stream. `consumer` limits it to one durable (a service redrives only its own). A handler that
 * fails again throws its error.
 */
export async function redriveDeadLetter(
  bus: Bus,
  seq: number,
  consumer?: string,
): Promise<{ deadLetter: DeadLetter; outcome: 'handled' | 'already_processed' }> {
  const found = await deadLetterAt(bus, seq);
  if (!found || (consumer && found.letter.consumer !== consumer))
    throw new DeadLetterNotFound(`no dead letter ${seq}${consumer ? ` of ${consumer}` : ''} in the DLQ`);
  const { letter, data, storedAt } = found;
  const redriver = (redrivers.get(bus)?.get(letter.consumer) ?? []).find((r) => r.matches(letter.subject));
  if (!redriver)
    throw new DeadLetterNotRedrivable(
      `dead letter ${seq} belongs to consumer ${letter.consumer} of ${letter.subject}, which does not run in this process; redrive it through that service`,
    );
  return { deadLetter: letter, outcome: await redriver.run(data, letter.subject, storedAt) };
}
