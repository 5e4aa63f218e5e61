import type { MigrationInterface, QueryRunner } from 'typeorm';
import { createArtefactLinksTable } from '@clopen/model-links';

/** Which chain model a platform version is, for licences granted on collateral (libs/model-links). */
export class ArtefactLinks1764200000001 implements MigrationInterface {
  name = 'ArtefactLinks1764200000001';

  async up(q: QueryRunner): Promise<void> {
    await createArtefactLinksTable(q);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE artefact_links');
  }
}
