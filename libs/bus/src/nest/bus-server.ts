import { Server, type CustomTransportStrategy, type MessageHandler } from '@nestjs/microservices';
import { lastValueFrom } from 'rxjs';
import type { DataSource } from 'typeorm';
import type { Bus, Responder } from '../bus';
import { causeOf, withCause } from '../causation';
import { subjectSpec, type RequestSubject } from '../subjects';
import { BusContext } from './bus-context';

/** Pass as the transport of `@MessagePattern(subject, BUS_TRANSPORT)` when an app has several transports. */
export const BUS_TRANSPORT = Symbol('clopen-bus');

export interface BusServerOptions {
  bus: Bus;
  /** The request handlers' BusContext carries its default manager; a service without a database answers requests too. */
  dataSource?: DataSource;
  /** The service's name, e.g. "distribution". */
  durablePrefix: string;
  /** Queue group of request handlers; defaults to the bus producer. */
  queue?: string;
  /** Create/update the streams before consuming. Default true. */
  ensureStreams?: boolean;
}

// Server.on's own signature.
type StatusCallback = Function;

/**
 * NestJS transport over the bus for requests: `@MessagePattern(subject)` handlers answer core-NATS
 * requests. Events have one way to be handled, `consume({ handlers })` (libs/bus/src/consumer), so
 * an `@EventPattern` is refused at start.
 */
export class BusServer extends Server implements CustomTransportStrategy {
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
    const responders = this.responders;
    this.responders = [];
    await Promise.all(responders.map((r) => r.stop()));
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
        throw new Error(
          `@EventPattern('${pattern}'): events are handled with consume({ handlers: { '${pattern}': … } }) from @clopen/bus (durable, idempotent, typed per subject), not with Nest's @EventPattern`,
        );
      }
      if (spec.kind !== 'request')
        throw new Error(`@MessagePattern('${pattern}') names an event subject; events are handled with consume({ handlers }) from @clopen/bus`);
      this.responders.push(
        bus.reply(
          pattern as RequestSubject,
          // What the handler publishes or enqueues is caused by the request.
          (payload, envelope) =>
            withCause(causeOf(envelope), () =>
              this.invoke(handler, payload, new BusContext([envelope, dataSource?.manager as never, pattern, 1])),
            ) as Promise<never>,
          { queue: this.options.queue },
        ),
      );
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
