import type { JsMsg } from 'nats';
import type { DataSource, EntityManager } from 'typeorm';
import type { Bus, BusLogger } from '../bus';
import { decodeEnvelope, type Envelope } from '../envelope';
import { stripNamespace } from '../namespace';
import { anyPartnerSubject, partnerOf } from '../partners';
import { streamOf } from '../streams';
import { eventSpec, type EventPayload, type EventSubject } from '../subjects';
import { deadLetterMessage, durableName, ensureDurable, errorText, type ConsumerHandle } from './consume';
import { registerRedriver } from './dead-letters';
import { ProcessedMessage } from './processed-message.entity';

export interface BatchItem<S extends EventSubject> {
  payload: EventPayload<S>;
  envelope: Envelope;
  /** With `fromPartners`: the partner that published it (the NATS account it came from, not a claim in the message). */
  partner?: string;
  /** When JetStream stored it (ms): the server's clock, not the publisher's. */
  storedAt: number;
}

export type BatchHandler<S extends EventSubject> = (items: BatchItem<S>[], manager: EntityManager) => Promise<void>;

export interface ConsumeBatchesOptions<S extends EventSubject> {
  bus: Bus;
  dataSource: DataSource;
  /** Logical consumer name; the durable is the same one `consume` would use for this subject. */
  durable: string;
  subject: S;
  /**
   * Consume what partners published on this subject (`<subject>.<partner>`, src/partners.ts) instead
   * of the platform's own messages: a durable of its own, `<durable>__<subject>_partners`.
   */
  fromPartners?: boolean;
  handler: BatchHandler<S>;
  /** Messages taken in one pull and handled in one transaction. Default 256. */
  maxMessages?: number;
  /** How long a pull waits for a batch to fill when traffic is light. Default 1000 ms (the server's minimum is 1 s). */
  maxWaitMs?: number;
  /** Attempts of a single message (after its batch failed) before it goes to the DLQ. Default 5. */
  maxDeliver?: number;
  backoffMs?: number;
  ackWaitMs?: number;
  /** Pulls in flight at once, so one batch's database write overlaps the next one's handling. Default 1. */
  concurrency?: number;
  logger?: BusLogger;
}

/**
 * A durable consumer for high-volume subjects: each pull of up to `maxMessages` messages is
 * handled in ONE transaction (one processed-message insert for all, one handler call), then acked.
 * Messages already processed (a redelivery after a crash between commit and ack) are left out of
 * the batch, so a message counts once. When a batch fails, its messages are retried one by one so
 * that a poison message is retried and dead-lettered alone instead of holding back the others.
 */
export async function consumeBatches<S extends EventSubject>(options: ConsumeBatchesOptions<S>): Promise<ConsumerHandle> {
  const { bus, dataSource, durable, subject, handler } = options;
  eventSpec(subject);
  const maxMessages = options.maxMessages ?? 256;
  const maxWaitMs = Math.max(options.maxWaitMs ?? 1_000, 1_000);
  const maxDeliver = options.maxDeliver ?? 5;
  const backoff = options.backoffMs ?? 1_000;
  const logger = options.logger ?? bus.logger;
  const fromPartners = options.fromPartners ?? false;
  const name = consumerName(durable, subject, fromPartners);
  await ensureDurable(bus, subject, name, options.ackWaitMs, fromPartners ? anyPartnerSubject(subject) : subject);
  const consumer = await bus.js.consumers.get(bus.stream(streamOf(subject)), name);
  /** The un-prefixed subject a message arrived on: `subject`, or a partner's `<subject>.<partner>`. */
  const arrivedOn = (msg: JsMsg) => stripNamespace(bus.namespace, msg.subject);

  /** Runs the handler over the messages not processed before, in one transaction; how many those were. */
  const commit = async (items: BatchItem<S>[]): Promise<number> =>
    dataSource.transaction(async (manager) => {
      const table = manager.getRepository(ProcessedMessage).metadata.tablePath;
      const inserted: { message_id: string }[] = await manager.query(
        `INSERT INTO ${table} (consumer, message_id) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING RETURNING message_id`,
        [durable, items.map((i) => i.envelope.id)],
      );
      const fresh = new Set(inserted.map((r) => r.message_id));
      const todo = items.filter((i) => fresh.delete(i.envelope.id));
      if (todo.length) await handler(todo, manager);
      return todo.length;
    });

  // An admin's redrive of a dead letter runs it through the same path (consumer/dead-letters.ts).
  const own = (s: string) => (fromPartners ? partnerOf(subject, s) !== undefined : s === subject);
  const unregister = registerRedriver(bus, durable, own, async (data, arrived, storedAt) => {
    const { envelope, payload } = decodeEnvelope(data, subject);
    const partner = fromPartners ? partnerOf(subject, arrived) : undefined;
    const n = await commit([{ envelope, payload: payload as EventPayload<S>, storedAt, ...(partner ? { partner } : {}) }]);
    return n ? 'handled' : 'already_processed';
  });

  const settle = async (msgs: JsMsg[]) => {
    const items: (BatchItem<S> & { msg: JsMsg })[] = [];
    for (const msg of msgs) {
      try {
        const { envelope, payload } = decodeEnvelope(msg.data, subject);
        const partner = fromPartners ? partnerOf(subject, arrivedOn(msg)) : undefined;
        items.push({
          envelope,
          payload: payload as EventPayload<S>,
          msg,
          storedAt: Math.floor(msg.info.timestampNanos / 1e6),
          ...(partner ? { partner } : {}),
        });
      } catch (err) {
        await deadLetterMessage({ bus, durable, logger }, msg, arrivedOn(msg), undefined, (err as Error).message, msg.info.redeliveryCount);
      }
    }
    if (!items.length) return;
    const retryOrDeadLetter = async (item: BatchItem<S> & { msg: JsMsg }, err: unknown) => {
      const attempt = item.msg.info.redeliveryCount;
      if (attempt >= maxDeliver) await deadLetterMessage({ bus, durable, logger }, item.msg, arrivedOn(item.msg), item.envelope, errorText(err), attempt);
      else {
        logger.warn(`${durable} failed on ${subject} ${item.envelope.id} (attempt ${attempt}/${maxDeliver}), retrying: ${errorText(err)}`);
        item.msg.nak(backoff);
      }
    };
    try {
      await commit(items);
      for (const i of items) i.msg.ack();
      return;
    } catch (err) {
      if (items.length === 1) return retryOrDeadLetter(items[0], err);
      logger.warn(`${durable}: a batch of ${items.length} ${subject} failed (${errorText(err)}); handling its messages one by one`);
    }
    for (const item of items) {
      try {
        await commit([item]);
        item.msg.ack();
      } catch (err) {
        await retryOrDeadLetter(item, err);
      }
    }
  };

  let stopping = false;
  const pulls = new Set<{ stop(): void }>();
  const loop = async () => {
    while (!stopping) {
      const msgs: JsMsg[] = [];
      try {
        const pull = await consumer.fetch({ max_messages: maxMessages, expires: maxWaitMs });
        pulls.add(pull);
        for await (const msg of pull) msgs.push(msg);
        pulls.delete(pull);
      } catch (err) {
        if (stopping) break;
        logger.warn(`${durable}: pulling ${subject} failed, retrying: ${errorText(err)}`);
        await new Promise((r) => setTimeout(r, backoff));
      }
      if (!msgs.length) continue;
      try {
        await settle(msgs);
      } catch (err) {
        // Settling failed (database or DLQ unreachable): the server redelivers after a nak.
        logger.error(`${durable} could not settle ${msgs.length} ${subject} message(s): ${errorText(err)}`);
        for (const msg of msgs) msg.nak(backoff);
        await new Promise((r) => setTimeout(r, backoff));
      }
    }
  };
  const done = Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 1) }, loop));

  return {
    stop: async () => {
      unregister();
      stopping = true;
      for (const p of pulls) p.stop();
      await done;
    },
  };
}

/** The durable of a batch consumer: the one `consume` uses for the subject, or its partners' own. */
export function consumerName(durable: string, subject: EventSubject, fromPartners = false): string {
  return durableName(durable, fromPartners ? `${subject}.partners` : subject);
}
