import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What a grant has leased to gateways, in a row of its own: a lease then never waits for ingest,
 * which holds the grant's row while it counts a batch of receipts against the quota. And the opening
 * blocks access hands to a grant's hosts when it is issued, until each host picks its own up.
 */
export class GrantLeases1764300000006 implements MigrationInterface {
  name = 'GrantLeases1764300000006';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE grant_leases (
        grant_id uuid PRIMARY KEY REFERENCES grants (id),
        requests bigint NOT NULL DEFAULT 0,
        tokens bigint NOT NULL DEFAULT 0
      )`);
    await q.query(
      'INSERT INTO grant_leases (grant_id, requests, tokens) SELECT id, leased_requests, leased_tokens FROM grants WHERE leased_requests <> 0 OR leased_tokens <> 0',
    );
    await q.query('ALTER TABLE grants DROP COLUMN leased_requests, DROP COLUMN leased_tokens');
    await q.query(
      'ALTER TABLE quota_leases ADD COLUMN handed_requests bigint NOT NULL DEFAULT 0, ADD COLUMN handed_tokens bigint NOT NULL DEFAULT 0, ADD COLUMN handed_at timestamptz',
    );
    await q.query('CREATE INDEX quota_leases_handed ON quota_leases (lower(host_address)) WHERE handed_at IS NOT NULL');
    // When each host's gateway last asked for handouts: only hosts that are up are handed blocks.
    await q.query('CREATE TABLE host_presence (host_address text PRIMARY KEY, seen_at timestamptz NOT NULL)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE host_presence');
    await q.query('ALTER TABLE quota_leases DROP COLUMN handed_requests, DROP COLUMN handed_tokens, DROP COLUMN handed_at');
    await q.query('ALTER TABLE grants ADD COLUMN leased_requests bigint NOT NULL DEFAULT 0, ADD COLUMN leased_tokens bigint NOT NULL DEFAULT 0');
    await q.query('UPDATE grants g SET leased_requests = l.requests, leased_tokens = l.tokens FROM grant_leases l WHERE l.grant_id = g.id');
    await q.query('DROP TABLE grant_leases');
  }
}
