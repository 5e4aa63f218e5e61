import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Only allowed usage is paid: the licences access has heard of (from distribution's events), each
 * grant's counted usage across every host (the quota is checked against it under the grant's row
 * lock) and the quota its hosts' gateways leased to serve with, and every refused receipt with its
 * reason, readable by the host that sent it.
 */
export class PaidUsage1764300000005 implements MigrationInterface {
  name = 'PaidUsage1764300000005';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE host_licences (
        id uuid PRIMARY KEY,
        model_id text NOT NULL,
        version_id text NOT NULL,
        host_address text NOT NULL,
        granted_at timestamptz NOT NULL,
        ended_at timestamptz,
        end_reason text
      )`);
    await q.query('CREATE INDEX host_licences_host_model ON host_licences (lower(host_address), model_id)');
    await q.query(
      `ALTER TABLE grants ADD COLUMN counted_requests bigint NOT NULL DEFAULT 0, ADD COLUMN counted_tokens bigint NOT NULL DEFAULT 0,
                         ADD COLUMN leased_requests bigint NOT NULL DEFAULT 0, ADD COLUMN leased_tokens bigint NOT NULL DEFAULT 0`,
    );
    await q.query(`
      CREATE TABLE quota_leases (
        grant_id uuid NOT NULL REFERENCES grants (id),
        host_address text NOT NULL,
        requests bigint NOT NULL,
        tokens bigint NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (grant_id, host_address)
      )`);
    await q.query(`
      UPDATE grants g SET counted_requests = u.requests, counted_tokens = u.tokens
      FROM (SELECT grant_id, count(*) AS requests, sum(tokens_in + tokens_out) AS tokens FROM usage_receipts GROUP BY grant_id) u
      WHERE u.grant_id = g.id`);
    await q.query(`
      CREATE TABLE usage_rejections (
        id bigserial PRIMARY KEY,
        host_address text NOT NULL,
        partner text,
        grant_id text NOT NULL,
        counter bigint NOT NULL,
        reason text NOT NULL,
        message text NOT NULL,
        rejected_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query('CREATE INDEX usage_rejections_host ON usage_rejections (lower(host_address), id)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE usage_rejections');
    await q.query('DROP TABLE quota_leases');
    await q.query('ALTER TABLE grants DROP COLUMN counted_requests, DROP COLUMN counted_tokens, DROP COLUMN leased_requests, DROP COLUMN leased_tokens');
    await q.query('DROP TABLE host_licences');
  }
}
