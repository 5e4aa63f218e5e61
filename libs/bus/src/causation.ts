import { AsyncLocalStorage } from 'node:async_hooks';

/** What a message being handled (or a request being served) passes on to the messages it causes. */
export interface Cause {
  correlationId: string;
  /** The id of the message that caused the new one; empty for a request from outside the bus. */
  causationId: string;
}

const scope = new AsyncLocalStorage<Cause>();

/**
 * Runs `fn` as the handling of `cause`: every envelope created inside it (outbox events, bus
 * publishes and requests, in nested service calls too) inherits its correlation id and names it as
 * its cause, unless the caller says otherwise. The bus's consumers and request handlers run their
 * handlers so; service-kit runs each HTTP request so when it carries X-Correlation-Id.
 */
export function withCause<T>(cause: Cause, fn: () => T): T {
  return scope.run(cause, fn);
}

/** The cause of what runs now, if any. */
export function currentCause(): Cause | undefined {
  return scope.getStore();
}

/** The cause an envelope passes on: its correlation, and itself as the causation. */
export const causeOf = (envelope: { id: string; correlationId: string }): Cause => ({ correlationId: envelope.correlationId, causationId: envelope.id });
