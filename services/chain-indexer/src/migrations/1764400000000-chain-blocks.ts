import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ChainBlocks1764400000000 implements MigrationInterface {
  name = 'ChainBlocks1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE indexed_blocks (
        chain_id bigint NOT NULL,
        number bigint NOT NULL,
        hash text NOT NULL,
        parent_hash text NOT NULL,
        logs int NOT NULL,
        indexed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (chain_id, number)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE indexed_blocks');
  }
}
