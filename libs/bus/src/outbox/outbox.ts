import type { EntityManager } from 'typeorm';
import type { MessageContext } from '../bus';
import { encodeEnvelope, newEnvelope } from '../envelope';
import { partnerSubject } from '../partners';
import { eventSpec, isSubject, type EventInit, type EventSubject } from '../subjects';
import { OutboxMessage } from './outbox-message.entity';

/** The LISTEN/NOTIFY channel that wakes the relay of a schema's outbox. */
export function outboxChannel(schema: string | undefined): string {
  return schema ? `clopen_outbox_${schema}` : 'clopen_outbox';
}

/** Writes events into the outbox inside the caller's transaction, so they leave only if it commits. */
export class Outbox {
  constructor(private readonly options: { producer: string }) {}

  /**
   * Many events in one insert (one wake-up of the relay): for producers of thousands a transaction.
   * An event with `partner` (of a toPartners subject) is followed by its copy for that partner, on
   * `<subject>.<partner>`: an envelope of its own caused by the event. Returns the events' ids.
   */
  async enqueueMany(
    manager: EntityManager,
    events: readonly { subject: EventSubject; payload: EventInit<EventSubject>; ctx?: MessageContext; partner?: string }[],
  ): Promise<string[]> {
    if (!events.length) return [];
    if (!manager.queryRunner?.isTransactionActive)
      throw new Error('Outbox.enqueueMany needs the EntityManager of an open transaction (dataSource.transaction(manager => …))');
    const rows = events.flatMap(({ subject, payload, ctx, partner }) => {
      eventSpec(subject);
      const envelope = newEnvelope(subject, payload as never, { ...ctx, producer: this.options.producer });
      const row = { id: envelope.id, subject: subject as string, envelope: Buffer.from(encodeEnvelope(envelope)) };
      if (!partner) return [row];
      const to = partnerSubject(subject, partner);
      if (!eventSpec(subject).toPartners) throw new Error(`${subject} is not addressed to partners (toPartners in libs/bus/src/subjects.ts)`);
      const copy = newEnvelope(subject, payload as never, { producer: this.options.producer, causedBy: envelope });
      return [row, { id: copy.id, subject: to, envelope: Buffer.from(encodeEnvelope(copy)) }];
    });
    const table = manager.getRepository(OutboxMessage).metadata.tablePath;
    // clock_timestamp() plus the row's position keeps the relay's order (created_at) the order given.
    await manager.query(
      `INSERT INTO ${table} (id, subject, envelope, created_at)
       SELECT r.id, r.subject, r.envelope, clock_timestamp() + (r.ord * interval '1 microsecond')
         FROM unnest($1::uuid[], $2::text[], $3::bytea[]) WITH ORDINALITY AS r(id, subject, envelope, ord)`,
      [rows.map((r) => r.id), rows.map((r) => r.subject), rows.map((r) => r.envelope)],
    );
    const schema = (manager.connection.options as { schema?: string }).schema;
    await manager.query('SELECT pg_notify($1, $2)', [outboxChannel(schema), '']);
    return rows.filter((r) => isSubject(r.subject)).map((r) => r.id);
  }

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
