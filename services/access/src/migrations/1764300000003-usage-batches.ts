import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Batches a host signed as a whole: the evidence behind receipts that carry no signature of their own. */
export class UsageBatches1764300000003 implements MigrationInterface {
  name = 'UsageBatches1764300000003';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE usage_batches (
        id uuid PRIMARY KEY,
        host_address text NOT NULL,
        host_key_id text NOT NULL,
        signature text NOT NULL,
        body_hashes bytea NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query('ALTER TABLE usage_receipts ADD COLUMN batch_id uuid REFERENCES usage_batches (id)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE usage_receipts DROP COLUMN batch_id');
    await q.query('DROP TABLE usage_batches');
  }
}
