import type { MigrationInterface, QueryRunner } from 'typeorm';
import { createArtefactLinksTable } from '@clopen/model-links';

/** Which chain model a platform version is, for licences granted on collateral (libs/model-links); the host of each proposed slash, to end its licences once executed. */
export class ArtefactLinks1764200000001 implements MigrationInterface {
  name = 'ArtefactLinks1764200000001';

  async up(q: QueryRunner): Promise<void> {
    await createArtefactLinksTable(q);
    await q.query(`
      CREATE TABLE chain_slashes (
        slash_id numeric(78, 0) PRIMARY KEY,
        host_address text NOT NULL,
        chain_model_id numeric(78, 0) NOT NULL
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE chain_slashes');
    await q.query('DROP TABLE artefact_links');
  }
}
