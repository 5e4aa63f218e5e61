import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Creates api_keys in the service's own schema (the connection's search_path). */
export class CreateApiKeys1764000000000 implements MigrationInterface {
  name = 'CreateApiKeys1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE api_keys (
        id uuid PRIMARY KEY,
        principal_id text NOT NULL CHECK (principal_id <> ''),
        roles text[] NOT NULL CHECK (cardinality(roles) > 0),
        key_hash bytea NOT NULL,
        label text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
      )`);
    await q.query('CREATE UNIQUE INDEX api_keys_key_hash ON api_keys (key_hash)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE api_keys');
  }
}
