import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { BusRetention } from '../src';
import { createTestDatabase } from './support';

/** The bus tables lose what is past its use, and nothing else. */
describe('BusRetention', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let ds: DataSource;
  beforeAll(async () => {
    db = await createTestDatabase();
    ds = await db.dataSource();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('deletes published outbox rows and processed-message records past retention, a batch at a time', async () => {
    const rows = (n: number, age: string, published: boolean) =>
      ds.query(
        `INSERT INTO outbox_messages (id, subject, envelope, created_at, published_at)
         SELECT gen_random_uuid(), 'storage.model.registered', '\\x00', now() - $2::interval, ${published ? 'now() - $2::interval' : 'NULL'} FROM generate_series(1, $1)`,
        [n, age],
      );
    await rows(25, '10 days', true); // past retention
    await rows(3, '1 hour', true); // published lately: kept
    await rows(4, '10 days', false); // never published: kept whatever its age
    const consumer = `retention-${randomUUID()}`;
    await ds.query(
      `INSERT INTO processed_messages (consumer, message_id, processed_at) SELECT $1, 'old-' || g, now() - interval '40 days' FROM generate_series(1, 12) g`,
      [consumer],
    );
    await ds.query(`INSERT INTO processed_messages (consumer, message_id) VALUES ($1, 'new-1')`, [consumer]);

    const pruned = await new BusRetention(ds, { outboxMs: 7 * 86_400_000, processedMs: 30 * 86_400_000, batch: 10 }).pruneOnce();
    expect(pruned.outbox).toBeGreaterThanOrEqual(25);
    expect(pruned.processed).toBeGreaterThanOrEqual(12);
    const [{ published, unpublished }] = await ds.query(
      "SELECT count(*) FILTER (WHERE published_at < now() - interval '7 days')::int AS published, count(*) FILTER (WHERE published_at IS NULL AND created_at < now() - interval '9 days')::int AS unpublished FROM outbox_messages",
    );
    expect(published).toBe(0);
    expect(unpublished).toBe(4);
    expect(
      (await ds.query('SELECT message_id FROM processed_messages WHERE consumer = $1', [consumer])).map((r: { message_id: string }) => r.message_id),
    ).toEqual(['new-1']);
    expect(() => new BusRetention(ds, { outboxMs: 60_000, processedMs: 86_400_000 })).toThrow(/duplicate window/);
  });
});
