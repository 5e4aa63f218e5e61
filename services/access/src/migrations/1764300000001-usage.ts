import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Usage1764300000001 implements MigrationInterface {
  name = 'Usage1764300000001';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE host_serving_keys (
        host_address text NOT NULL,
        key_id text NOT NULL,
        public_key text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (host_address, key_id)
      )`);
    await q.query(`
      CREATE TABLE host_auth_nonces (
        host_address text NOT NULL,
        nonce text NOT NULL,
        expires_at timestamptz NOT NULL,
        PRIMARY KEY (host_address, nonce)
      )`);
    await q.query(`
      CREATE TABLE usage_receipts (
        grant_id uuid NOT NULL REFERENCES grants (id),
        counter bigint NOT NULL,
        host_address text NOT NULL,
        model_id text NOT NULL,
        user_id text NOT NULL,
        tokens_in int NOT NULL,
        tokens_out int NOT NULL,
        served_at timestamptz NOT NULL,
        receipt text NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (grant_id, counter)
      )`);
    await q.query('CREATE INDEX usage_receipts_received ON usage_receipts (received_at)');
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['usage_receipts', 'host_auth_nonces', 'host_serving_keys']) await q.query(`DROP TABLE ${t}`);
  }
}
