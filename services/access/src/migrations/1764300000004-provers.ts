import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Provers1764300000004 implements MigrationInterface {
  name = 'Provers1764300000004';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE provers (
        address text PRIMARY KEY,
        name text NOT NULL,
        registered_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
      )`);
    await q.query(`
      CREATE TABLE prover_challenges (
        id uuid PRIMARY KEY,
        prover text NOT NULL REFERENCES provers (address),
        version_id uuid NOT NULL,
        endpoint text NOT NULL,
        queries jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        outcome text,
        violation_id uuid
      )`);
    await q.query('CREATE INDEX prover_challenges_by_prover ON prover_challenges (prover, created_at)');
    await q.query(`
      CREATE TABLE violations (
        id uuid PRIMARY KEY,
        challenge_id uuid NOT NULL UNIQUE REFERENCES prover_challenges (id),
        version_id uuid NOT NULL,
        endpoint text NOT NULL,
        prover text NOT NULL,
        kind text NOT NULL,
        accused jsonb NOT NULL,
        evidence_sha256 text NOT NULL,
        evidence jsonb NOT NULL,
        queries int NOT NULL,
        keys_asked int NOT NULL,
        keys_answered int NOT NULL,
        unpermitted_answers int NOT NULL,
        trace_id uuid,
        false_accusation double precision NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['violations', 'prover_challenges', 'provers']) await q.query(`DROP TABLE ${t}`);
  }
}
