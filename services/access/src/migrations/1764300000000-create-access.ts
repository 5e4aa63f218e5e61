import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateAccess1764300000000 implements MigrationInterface {
  name = 'CreateAccess1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE grants (
        id uuid PRIMARY KEY,
        model_id text NOT NULL,
        user_id text NOT NULL,
        user_public_key text NOT NULL,
        hosts text[] NOT NULL,
        quota_requests bigint NOT NULL CHECK (quota_requests >= 0),
        quota_tokens bigint NOT NULL CHECK (quota_tokens >= 0),
        not_before timestamptz NOT NULL,
        expires_at timestamptz NOT NULL CHECK (expires_at > not_before),
        issuer_key_id text NOT NULL,
        grant_bytes text NOT NULL,
        issuer_signature text NOT NULL,
        revoked_at timestamptz,
        revoked_reason text,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query('CREATE INDEX grants_user ON grants (user_id, created_at)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE grants');
  }
}
