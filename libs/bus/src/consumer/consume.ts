import { AckPolicy, DeliverPolicy, headers as natsHeaders, nanos, type ConsumerConfig, type ConsumerMessages, type JsMsg, type NatsError } from 'nats';
import type { DataSource, EntityManager } from 'typeorm';
import type { Bus, BusLogger } from '../bus';
import { causeOf, withCause } from '../causation';
import { decodeEnvelope, envelopeHeaders, HEADER, headerValue, type Envelope } from '../envelope';
import { deadLetterSubject, stripNamespace } from '../namespace';
import { streamOf } from '../streams';
import { eventSpec, type EventPayload, type EventSubject } from '../subjects';
import { registerRedriver } from './dead-letters';
import { ProcessedMessage } from './processed-message.entity';

export interface ConsumeContext<S extends EventSubject = EventSubject> {
  envelope: Envelope;
  subject: S;
  /**
   * The transaction the processed-message row commits in; write through it. Outbox events written
   * while the handler runs (here or in any service it calls) inherit the envelope's correlation id
   * and name it as their cause.
   */
  manager: EntityManager;
  /** 1 on first delivery. */
  attempt: number;
}

export type EventHandler<S extends EventSubject> = (payload: EventPayload<S>, ctx: ConsumeContext<S>) => Promise<void> | void;

/** One handler per subject, each with its subject's payload type (from the table in subjects.ts). */
export type EventHandlers<S extends EventSubject> = { readonly [K in S]: EventHandler<K> };

export interface ConsumeOptions<S extends EventSubject> {
  bus: Bus;
  dataSource: DataSource;
  /** Logical consumer name, e.g. "distribution"; key of its processed-message rows. */
  durable: string;
  /** The subjects it consumes, each with its handler. */
  handlers: EventHandlers<S>;
  /** Deliveries before the message goes to the DLQ. Default 5. */
  maxDeliver?: number;
  /** Delay before redelivery after a failure; an array gives one per attempt (last one repeats). Default 1000. */
  backoffMs?: number | readonly number[];
  /** Time the server waits for an ack before redelivering. Default 30 s. */
  ackWaitMs?: number;
  logger?: BusLogger;
}

export interface ConsumerHandle {
  /** Stops fetching; resolves once the message in hand is settled. */
  stop(): Promise<void>;
}

/** JetStream durable names may not contain dots or wildcards. */
export function durableName(durable: string, subject: string): string {
  return `${durable}__${subject}`.replace(/[^A-Za-z0-9_-]/g, '_');
}

/**
 * Starts an idempotent durable consumer: each message is handled at most once per `durable`
 * (a processed-message row commits with the handler's writes), retried with backoff, and dead-lettered
 * to dlq.<subject> after maxDeliver attempts. One JetStream pull consumer per subject, so filters work on
 * NATS servers before 2.10 too.
 */
export async function consume<S extends EventSubject>(options: ConsumeOptions<S>): Promise<ConsumerHandle> {
  const { bus, dataSource, durable, handlers } = options;
  const maxDeliver = options.maxDeliver ?? 5;
  const backoff = options.backoffMs ?? 1_000;
  const logger = options.logger ?? bus.logger;
  const subjects = (Object.keys(handlers) as S[]).map((s) => (eventSpec(s), s));
  if (subjects.length === 0) throw new Error(`consumer ${durable} has no subjects`);

  const delayFor = (attempt: number): number => (typeof backoff === 'number' ? backoff : (backoff[Math.min(attempt - 1, backoff.length - 1)] ?? 1_000));

  const deadLetter = (msg: JsMsg, subject: string, envelope: Envelope | undefined, reason: string, attempts: number) =>
    deadLetterMessage({ bus, durable, logger }, msg, subject, envelope, reason, attempts);

  /** Handles an event once per durable: the processed-message row commits with the handler's writes. False when it was handled before. */
  const run = async (envelope: Envelope, payload: EventPayload<S>, subject: S, attempt: number): Promise<boolean> =>
    dataSource.transaction(async (manager) => {
      const inserted = await manager
        .createQueryBuilder()
        .insert()
        .into(ProcessedMessage)
        .values({ consumer: durable, messageId: envelope.id })
        .orIgnore()
        .returning(['message_id'])
        .execute();
      if ((inserted.raw as unknown[]).length === 0) return false; // seen before: a redelivery changes nothing
      const handler = handlers[subject] as EventHandler<S>;
      await withCause(causeOf(envelope), () => handler(payload, { envelope, subject, manager, attempt }));
      return true;
    });

  const handle = async (msg: JsMsg, subject: S): Promise<void> => {
    const attempt = msg.info.redeliveryCount;
    let decoded: { envelope: Envelope; payload: EventPayload<S> };
    try {
      decoded = decodeEnvelope(msg.data, subject) as unknown as typeof decoded;
    } catch (err) {
      // Retrying cannot fix bytes that do not decode.
      await deadLetter(msg, stripNamespace(bus.namespace, msg.subject), undefined, (err as Error).message, attempt);
      return;
    }
    const { envelope, payload } = decoded;
    try {
      await run(envelope, payload, subject, attempt);
      msg.ack();
    } catch (err) {
      const reason = errorText(err);
      if (attempt >= maxDeliver) {
        await deadLetter(msg, subject, envelope, reason, attempt);
      } else {
        logger.warn(`${durable} failed on ${subject} ${envelope.id} (attempt ${attempt}/${maxDeliver}), retrying: ${reason}`);
        msg.nak(delayFor(attempt));
      }
    }
  };

  // An admin's redrive of a dead letter runs it through the same path (consumer/dead-letters.ts).
  const unregister = registerRedriver(
    bus,
    durable,
    (s) => subjects.includes(s as S),
    async (data, s) => {
      const { envelope, payload } = decodeEnvelope(data, s as S) as unknown as { envelope: Envelope; payload: EventPayload<S> };
      return (await run(envelope, payload, s as S, maxDeliver + 1)) ? 'handled' : 'already_processed';
    },
  );

  const loops: { messages: ConsumerMessages; done: Promise<void> }[] = [];
  for (const subject of subjects) {
    const stream = bus.stream(streamOf(subject));
    const name = durableName(durable, subject);
    await ensureDurable(bus, subject, name, options.ackWaitMs);
    const consumer = await bus.js.consumers.get(stream, name);
    const messages = await consumer.consume({ max_messages: 16 });
    const done = (async () => {
      for await (const msg of messages) {
        try {
          await handle(msg, subject);
        } catch (err) {
          // Settling failed (e.g. DLQ unreachable): try again later.
          logger.error(`${durable} could not settle ${subject} seq ${msg.seq}: ${errorText(err)}`);
          msg.nak(delayFor(msg.info.redeliveryCount));
        }
      }
    })();
    loops.push({ messages, done });
  }

  return {
    stop: async () => {
      unregister();
      for (const l of loops) l.messages.stop();
      await Promise.all(loops.map((l) => l.done));
    },
  };
}

/** Sends a message a consumer gave up on to dlq.<subject> with why, and terminates it. */
export async function deadLetterMessage(
  { bus, durable, logger }: { bus: Bus; durable: string; logger: BusLogger },
  msg: JsMsg,
  subject: string,
  envelope: Envelope | undefined,
  reason: string,
  attempts: number,
): Promise<void> {
  const hdrs = envelope ? envelopeHeaders(envelope) : natsHeaders();
  hdrs.set(HEADER.deadReason, headerValue(reason));
  hdrs.set(HEADER.deadConsumer, durable);
  hdrs.set(HEADER.deadAttempts, String(attempts));
  hdrs.set(HEADER.deadStoredAt, String(Math.floor(msg.info.timestampNanos / 1e6)));
  // Id per (message, consumer): dead-lettering again after a crash is de-duplicated.
  const id = envelope?.id ? `${envelope.id}:${durable}` : `${msg.info.stream}:${msg.seq}:${durable}`;
  await bus.publishRaw(bus.subject(deadLetterSubject(subject)), msg.data, id, hdrs);
  msg.term();
  logger.warn(`${durable} dead-lettered ${subject} ${envelope?.id ?? `seq ${msg.seq}`} after ${attempts} attempt(s): ${reason}`);
}

/**
 * Creates the durable pull consumer of one subject, or updates the settings a restart may change.
 * `filter` (un-prefixed, in the subject's stream) defaults to the subject itself.
 */
export async function ensureDurable(bus: Bus, subject: EventSubject, name: string, ackWaitMs = 30_000, filter: string = subject): Promise<void> {
  const stream = bus.stream(streamOf(subject));
  const config: Partial<ConsumerConfig> = {
    durable_name: name,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: bus.subject(filter),
    ack_wait: nanos(ackWaitMs),
    // Retries are counted here, not by the server, so a failed DLQ publish is retried rather than dropped.
    max_deliver: -1,
  };
  const exists = await bus.jsm.consumers.info(stream, name).then(
    () => true,
    (err: NatsError) => {
      if (err.api_error?.err_code === 10014 || /consumer not found/i.test(err.message)) return false;
      throw err;
    },
  );
  if (exists) await bus.jsm.consumers.update(stream, name, { ack_wait: config.ack_wait, max_deliver: config.max_deliver });
  else await bus.jsm.consumers.add(stream, config);
}

export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  if (typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string') return (err as { message: string }).message;
  return String(err);
}
