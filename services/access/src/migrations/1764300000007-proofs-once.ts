import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A proof is checked once and its verdict kept: the same proof submitted again (its answer was lost,
 * access died before committing) gets the same verdict and never a second violation. A challenge
 * also names the model of its version.
 */
export class ProofsOnce1764300000007 implements MigrationInterface {
  name = 'ProofsOnce1764300000007';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE prover_challenges ADD COLUMN model_id text, ADD COLUMN proof_sha256 text, ADD COLUMN verdict jsonb');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE prover_challenges DROP COLUMN model_id, DROP COLUMN proof_sha256, DROP COLUMN verdict');
  }
}
