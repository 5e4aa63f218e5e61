import { Server, type CustomTransportStrategy, type MessageHandler } from '@nestjs/microservices';
import { lastValueFrom } from 'rxjs';
import type { DataSource } from 'typeorm';
import type { Bus, Responder } from '../bus';
import { consume, type ConsumerHandle } from '../consumer/consume';
import { subjectSpec, type EventSubject, type RequestSubject } from '../subjects';
import { BusContext } from './bus-context';

/** Pass as the transport of `@EventPattern(subject, BUS_TRANSPORT)` when an app has several transports. */
export const BUS_TRANSPORT = Symbol('clopen-bus');

export interface BusServerOptions {
  bus: Bus;
  /** Needed by `@EventPattern` consumers (processed-message table); a service without a database answers requests only. */
  dataSource?: DataSource;
  /** Durable consumer name of this service, e.g. "distribution"; one JetStream consumer per event subject. */
  durablePrefix: string;
  maxDeliver?: number;
  backoffMs?: number | readonly number[];
  ackWaitMs?: number;
  /** Queue group of request handlers; defaults to the bus producer. */
  queue?: string;
  /** Create/update the streams before consuming. Default true. */
  ensureStreams?: boolean;
}

// Server.on's own signature.
type StatusCallback = Function;

/**
 * NestJS transport over the bus: `@EventPattern(subject)` handlers become idempotent durable
 * JetStream consumers, `@MessagePattern(subject)` handlers answer core-NATS requests.
 */
export class BusServer extends Server implements CustomTransportStrategy {
  private consumers: ConsumerHandle[] = [];
  private responders: Responder[] = [];
  private readonly statusListeners = new Map<string, StatusCallback[]>();
  private statusLoop?: Promise<void>;

  constructor(private readonly options: BusServerOptions) {
    super();
    this.transportId = BUS_TRANSPORT;
  }

  listen(callback: (...optionalParams: unknown[]) => void): void {
    this.start().then(
      () => callback(),
      (err: unknown) => callback(err),
    );
  }

  async close(): Promise<void> {
    const consumers = this.consumers;
    const responders = this.responders;
    this.consumers = [];
    this.responders = [];
    await Promise.all([...consumers.map((c) => c.stop()), ...responders.map((r) => r.stop())]);
    this._status$.next('disconnected');
  }

  /** Listens to NATS connection status events ("disconnect", "reconnect", "error", …). */
  on<EventKey extends string = string, EventCallback extends StatusCallback = StatusCallback>(event: EventKey, callback: EventCallback): void {
    const list = this.statusListeners.get(event) ?? [];
    list.push(callback);
    this.statusListeners.set(event, list);
    this.statusLoop ??= this.watchStatus();
  }

  unwrap<T>(): T {
    return this.options.bus.connection as T;
  }

  private async start(): Promise<void> {
    const { bus, dataSource } = this.options;
    for (const pattern of this.messageHandlers.keys()) subjectSpec(pattern); // unknown subjects fail at start
    if (this.options.ensureStreams !== false) await bus.ensureStreams();
    for (const [pattern, handler] of this.messageHandlers) {
      const spec = subjectSpec(pattern);
      if (handler.isEventHandler) {
        if (spec.kind !== 'event') throw new Error(`@EventPattern('${pattern}') names a request subject; use @MessagePattern`);
        if (!dataSource) throw new Error(`@EventPattern('${pattern}') needs a database (idempotent consumers keep processed messages there); this service runs without one`);
        this.consumers.push(
          await consume({
            bus,
            dataSource,
            durable: this.options.durablePrefix,
            subjects: [pattern as EventSubject],
            maxDeliver: this.options.maxDeliver,
            backoffMs: this.options.backoffMs,
            ackWaitMs: this.options.ackWaitMs,
            logger: this.logger,
            handler: async (payload, ctx) => {
              await this.invoke(handler, payload, new BusContext([ctx.envelope, ctx.manager, ctx.subject, ctx.attempt]));
            },
          }),
        );
      } else {
        if (spec.kind !== 'request') throw new Error(`@MessagePattern('${pattern}') names an event subject; use @EventPattern`);
        this.responders.push(
          bus.reply(
            pattern as RequestSubject,
            (payload, envelope) => this.invoke(handler, payload, new BusContext([envelope, dataSource?.manager as never, pattern, 1])) as Promise<never>,
            { queue: this.options.queue },
          ),
        );
      }
    }
    this._status$.next('connected');
  }

  /** Runs a Nest handler (value, Promise or Observable) to its last value; its errors reject. */
  private async invoke(handler: MessageHandler, payload: unknown, ctx: BusContext): Promise<unknown> {
    const result = await handler(payload, ctx);
    return lastValueFrom(this.transformToObservable(result), { defaultValue: undefined });
  }

  private async watchStatus(): Promise<void> {
    for await (const status of this.options.bus.connection.status()) {
      for (const cb of this.statusListeners.get(status.type) ?? []) cb(status.data);
    }
  }
}
