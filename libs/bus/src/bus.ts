import { Logger } from '@nestjs/common';
import { busV1, create, fromBinary, toBinary } from '@clopen/proto';
import {
  connect,
  ErrorCode,
  headers as natsHeaders,
  nkeyAuthenticator,
  type JetStreamClient,
  type JetStreamManager,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type NatsError,
  type PubAck,
  type Subscription,
} from 'nats';
import { decodeEnvelope, encodeEnvelope, envelopeHeaders, HEADER, newEnvelope, type Envelope, type EnvelopeContext } from './envelope';
import { BusRequestError, errorReply } from './errors';
import { assertNamespace, namespacedStream, namespacedSubject } from './namespace';
import { partnerOf } from './partners';
import { streamConfig, streamNames, type StreamName } from './streams';
import {
  eventSpec,
  requestSpec,
  type EventInit,
  type EventSubject,
  type RequestInit,
  type RequestPayload,
  type RequestSubject,
  type ResponseInit,
  type ResponsePayload,
} from './subjects';

export interface BusLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string, trace?: string): void;
}

export interface BusOptions {
  servers: string | string[];
  /** This service's name: envelope producer and the queue group of its responders. */
  producer: string;
  /** Prefixes every subject and stream name; '' in production, random per test suite. */
  namespace?: string;
  /** NATS connection name; defaults to the producer. */
  name?: string;
  logger?: BusLogger;
  /** The user nkey seed (`SU…`) to authenticate with (infra/nats); absent: none, for a NATS without accounts. */
  nkeySeed?: string;
  /** Prefix of this connection's reply subjects; the shipped NATS configuration lets a service receive on `serviceInbox(name)` only. */
  inboxPrefix?: string;
  /**
   * The JetStream API prefix: `$JS.API` (default) in the platform's account; a partner's connection
   * reaches the one stream it may read under PARTNER_JS_API_PREFIX and never creates streams.
   */
  jsApiPrefix?: string;
  /** Copies of each stream ensureStreams() keeps in a NATS cluster; 1 (default) on a single server. */
  streamReplicas?: number;
}

/** Causation context of a message: who caused it. The producer comes from the Bus. */
export type MessageContext = Omit<EnvelopeContext, 'producer'>;

export interface PublishResult {
  /** The envelope id, also the Nats-Msg-Id. */
  id: string;
  stream: string;
  seq: number;
  /** JetStream already held a message with this id (within the duplicate window). */
  duplicate: boolean;
}

export type RequestHandler<S extends RequestSubject> = (payload: RequestPayload<S>, envelope: Envelope) => Promise<ResponseInit<S>> | ResponseInit<S>;

export interface Responder {
  readonly subject: string;
  /** Stops taking requests and waits for those in flight. */
  stop(): Promise<void>;
}

/** One NATS connection for a service: JetStream publishing, stream setup, request/reply. */
export class Bus {
  readonly js: JetStreamClient;

  private constructor(
    readonly connection: NatsConnection,
    readonly jsm: JetStreamManager,
    readonly producer: string,
    readonly namespace: string,
    readonly logger: BusLogger,
    jsApiPrefix?: string,
    private readonly streamReplicas = 1,
  ) {
    this.js = connection.jetstream(jsApiPrefix ? { apiPrefix: jsApiPrefix } : {});
  }

  static async connect(options: BusOptions): Promise<Bus> {
    const namespace = options.namespace ?? '';
    assertNamespace(namespace);
    if (!options.producer) throw new Error('Bus.connect needs a producer (the service name)');
    const connection = await connect({
      servers: options.servers,
      name: options.name ?? options.producer,
      ...(options.nkeySeed ? { authenticator: nkeyAuthenticator(new TextEncoder().encode(options.nkeySeed.trim())) } : {}),
      ...(options.inboxPrefix ? { inboxPrefix: options.inboxPrefix } : {}),
    });
    const apiPrefix = options.jsApiPrefix;
    // A partner's account has no JetStream of its own: its `$JS.API.INFO` would answer "not enabled".
    const jsm = await connection.jetstreamManager(apiPrefix ? { apiPrefix, checkAPI: false } : {});
    return new Bus(connection, jsm, options.producer, namespace, options.logger ?? new Logger('Bus'), apiPrefix, options.streamReplicas);
  }

  /** The wire subject of an un-prefixed subject. */
  subject(subject: string): string {
    return namespacedSubject(this.namespace, subject);
  }

  /** The wire name of a stream. */
  stream(name: StreamName): string {
    return namespacedStream(this.namespace, name);
  }

  /** Creates every stream in STREAMS, or updates it to the declared config. Safe to call from every service at start. */
  async ensureStreams(): Promise<void> {
    for (const name of streamNames()) {
      const config = streamConfig(name, this.namespace, this.streamReplicas);
      const exists = await this.jsm.streams.info(config.name).then(
        () => true,
        (err: NatsError) => {
          if (isNotFound(err)) return false;
          throw err;
        },
      );
      if (exists) {
        await this.jsm.streams.update(config.name, config);
      } else {
        await this.jsm.streams.add(config).catch(async (err: NatsError) => {
          // Another service created it meanwhile.
          if (!/already in use/i.test(err.message)) throw err;
          await this.jsm.streams.update(config.name, config);
        });
      }
    }
  }

  newEnvelope<S extends EventSubject | RequestSubject>(
    subject: S,
    payload: EventInit<S & EventSubject> | RequestInit<S & RequestSubject>,
    ctx: MessageContext = {},
  ): Envelope {
    return newEnvelope(subject, payload as never, { ...ctx, producer: this.producer });
  }

  /** Publishes an event straight to JetStream. A state change should go through the Outbox instead. */
  async publish<S extends EventSubject>(subject: S, payload: EventInit<S>, ctx: MessageContext = {}): Promise<PublishResult> {
    eventSpec(subject);
    return this.publishEnvelope(newEnvelope(subject, payload as never, { ...ctx, producer: this.producer }));
  }

  /**
   * Publishes an encoded envelope with its id as Nats-Msg-Id; the outbox relay's path. `to`: the
   * envelope's subject (the default) or, for an event addressed to partners, `<subject>.<partner id>`.
   */
  async publishEnvelope(envelope: Uint8Array | Envelope, to?: string): Promise<PublishResult> {
    const env = envelope instanceof Uint8Array ? decodeEnvelope(envelope).envelope : envelope;
    eventSpec(env.subject);
    if (to !== undefined && to !== env.subject) {
      const partner = partnerOf(env.subject as EventSubject, to);
      if (!partner || !eventSpec(env.subject).toPartners)
        throw new Error(`an envelope on ${env.subject} cannot be published on ${to}: only a toPartners event goes to <subject>.<partner id>`);
    }
    const bytes = envelope instanceof Uint8Array ? envelope : encodeEnvelope(env);
    const ack = await this.publishRaw(this.subject(to ?? env.subject), bytes, env.id, envelopeHeaders(env));
    return { id: env.id, stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
  }

  /** JetStream publish of bytes as they are; for the DLQ and for tests that forge wire messages. */
  publishRaw(wireSubject: string, bytes: Uint8Array, msgId: string, hdrs: MsgHdrs = natsHeaders()): Promise<PubAck> {
    return this.js.publish(wireSubject, bytes, { msgID: msgId, headers: hdrs });
  }

  /** Sends a query over core NATS; throws BusRequestError when the responder fails, is absent or too slow. */
  async request<S extends RequestSubject>(
    subject: S,
    payload: RequestInit<S>,
    options: { timeoutMs?: number; ctx?: MessageContext } = {},
  ): Promise<ResponsePayload<S>> {
    const spec = requestSpec(subject);
    const envelope = newEnvelope(subject, payload as never, { ...options.ctx, producer: this.producer });
    let reply: Msg;
    try {
      reply = await this.connection.request(this.subject(subject), encodeEnvelope(envelope), {
        timeout: options.timeoutMs ?? 5_000,
        headers: envelopeHeaders(envelope),
      });
    } catch (err) {
      const code = (err as NatsError).code;
      if (code === ErrorCode.NoResponders) throw new BusRequestError('unavailable', `no service answers ${subject}: is its responder running?`, subject);
      if (code === ErrorCode.Timeout) throw new BusRequestError('timeout', `${subject} got no reply within ${options.timeoutMs ?? 5_000} ms`, subject);
      throw err;
    }
    const errorCode = reply.headers?.get(HEADER.error);
    if (errorCode) {
      let message = errorCode;
      try {
        message = fromBinary(busV1.ErrorSchema, reply.data).message || errorCode;
      } catch {
        // The header alone still tells the caller what failed.
      }
      throw new BusRequestError(errorCode, message, subject);
    }
    return fromBinary(spec.response, reply.data) as ResponsePayload<S>;
  }

  /**
   * Answers requests on a subject (queue group = producer, so replicas share the load).
   * A thrown error with a lower_snake `code` is replied as that code, anything else as "internal".
   */
  reply<S extends RequestSubject>(subject: S, handler: RequestHandler<S>, options: { queue?: string } = {}): Responder {
    const spec = requestSpec(subject);
    const inFlight = new Set<Promise<void>>();
    const answer = async (msg: Msg): Promise<void> => {
      let out: { data: Uint8Array; headers?: MsgHdrs };
      try {
        const { envelope, payload } = decodeEnvelope(msg.data, subject);
        const result = await handler(payload as unknown as RequestPayload<S>, envelope);
        out = { data: toBinary(spec.response, create(spec.response, result as never)) };
      } catch (err) {
        const { code, message } =
          err instanceof Error && err.name === 'EnvelopeDecodeError' ? { code: 'invalid_argument', message: err.message } : errorReply(err);
        if (code === 'internal') this.logger.error(`${subject} failed: ${message}`, (err as Error)?.stack);
        const hdrs = natsHeaders();
        hdrs.set(HEADER.error, code);
        out = { data: toBinary(busV1.ErrorSchema, create(busV1.ErrorSchema, { code, message })), headers: hdrs };
      }
      if (!msg.reply) return;
      msg.respond(out.data, out.headers ? { headers: out.headers } : undefined);
    };
    const sub: Subscription = this.connection.subscribe(this.subject(subject), {
      queue: options.queue ?? this.producer,
      callback: (err, msg) => {
        if (err) {
          this.logger.error(`responder for ${subject} stopped: ${err.message}`);
          return;
        }
        const p = answer(msg).catch((e: Error) => this.logger.error(`replying to ${subject} failed: ${e.message}`));
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
      },
    });
    return {
      subject,
      stop: async () => {
        if (!sub.isClosed()) await sub.drain();
        await Promise.all([...inFlight]);
      },
    };
  }

  /** Flushes pending publishes and closes the connection. */
  async close(): Promise<void> {
    if (this.connection.isClosed()) return;
    await this.connection.drain();
  }
}

function isNotFound(err: NatsError): boolean {
  return err.api_error?.err_code === 10059 || /not found/i.test(err.message);
}
