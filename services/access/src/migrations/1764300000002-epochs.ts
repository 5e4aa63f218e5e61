import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Epochs1764300000002 implements MigrationInterface {
  name = 'Epochs1764300000002';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE epochs (
        number int PRIMARY KEY,
        started_at timestamptz NOT NULL,
        ended_at timestamptz NOT NULL,
        receipt_count int NOT NULL,
        root text NOT NULL
      )`);
    await q.query('ALTER TABLE usage_receipts ADD COLUMN epoch int REFERENCES epochs (number)');
    await q.query('CREATE INDEX usage_receipts_open ON usage_receipts (received_at) WHERE epoch IS NULL');
    await q.query('CREATE INDEX usage_receipts_epoch ON usage_receipts (epoch, grant_id, counter)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE usage_receipts DROP COLUMN epoch');
    await q.query('DROP TABLE epochs');
  }
}
