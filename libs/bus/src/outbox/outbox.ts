import type { EntityManager } from 'typeorm';
import type { MessageContext } from '../bus';
import { encodeEnvelope, newEnvelope } from '../envelope';
import { eventSpec, type EventInit, type EventSubject } from '../subjects';
import { OutboxMessage } from './outbox-message.entity';

/** The LISTEN/NOTIFY channel that wakes the relay of a schema's outbox. */
export function outboxChannel(schema: string | undefined): string {
  return schema ? `clopen_outbox_${schema}` : 'clopen_outbox';
}

/** Writes events into the outbox inside the caller's transaction, so they leave only if it commits. */
export class Outbox {
  constructor(private readonly options: { producer: string }) {}

  /** Returns the event id (the envelope id and Nats-Msg-Id). */
  async enqueue<S extends EventSubject>(manager: EntityManager, subject: S, payload: EventInit<S>, ctx: MessageContext = {}): Promise<string> {
    eventSpec(subject);
    if (!manager.queryRunner?.isTransactionActive) {
      throw new Error(`Outbox.enqueue(${subject}) needs the EntityManager of an open transaction (dataSource.transaction(manager => …))`);
    }
    const envelope = newEnvelope(subject, payload as never, { ...ctx, producer: this.options.producer });
    await manager
      .createQueryBuilder()
      .insert()
      .into(OutboxMessage)
      .values({ id: envelope.id, subject, envelope: Buffer.from(encodeEnvelope(envelope)), createdAt: () => 'clock_timestamp()' })
      .execute();
    // Delivered on commit only, and once per transaction however many rows it enqueued.
    const schema = (manager.connection.options as { schema?: string }).schema;
    await manager.query('SELECT pg_notify($1, $2)', [outboxChannel(schema), '']);
    return envelope.id;
  }
}
