import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The host of each proposed slash, to end its licences once the slash is executed (SlashExecuted does not name it). */
export class ChainSlashes1764200000002 implements MigrationInterface {
  name = 'ChainSlashes1764200000002';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE chain_slashes (
        slash_id numeric(78, 0) PRIMARY KEY,
        host_address text NOT NULL,
        chain_model_id numeric(78, 0) NOT NULL
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE chain_slashes');
  }
}
