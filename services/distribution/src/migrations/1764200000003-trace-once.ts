import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The digest of the outputs a challenge was traced with: asked again with the same outputs (the
 * prover's access retried after a crash), tracing answers with the trace it made, never a second one.
 */
export class TraceOnce1764200000003 implements MigrationInterface {
  name = 'TraceOnce1764200000003';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE challenges ADD COLUMN responses_sha256 text');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE challenges DROP COLUMN responses_sha256');
  }
}
