import type { MigrationInterface, QueryRunner } from 'typeorm';
import { createArtefactLinksTable } from '@clopen/model-links';

export class CreateIncentives1764500000000 implements MigrationInterface {
  name = 'CreateIncentives1764500000000';

  async up(q: QueryRunner): Promise<void> {
    // Every transaction the protocol key sends, from intent to settlement. `purpose` names the
    // business step (usage-root:7, slash-propose:<id>…) so one step is never sent twice.
    await q.query(`
      CREATE TABLE protocol_transactions (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        purpose text NOT NULL UNIQUE,
        contract text NOT NULL,
        function_name text NOT NULL,
        args jsonb NOT NULL,
        to_address text NOT NULL,
        data text NOT NULL,
        status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'confirmed', 'reverted', 'failed')),
        nonce bigint UNIQUE,
        gas numeric(78, 0),
        max_fee_per_gas numeric(78, 0),
        max_priority_fee_per_gas numeric(78, 0),
        raw text,
        hashes text[] NOT NULL DEFAULT '{}',
        mined_hash text,
        block_number bigint,
        gas_used numeric(78, 0),
        missing_rounds int NOT NULL DEFAULT 0,
        error_name text,
        error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        sent_at timestamptz,
        last_broadcast_at timestamptz,
        settled_at timestamptz
      )`);
    await q.query(`CREATE INDEX protocol_transactions_open ON protocol_transactions (status, created_at) WHERE status IN ('queued', 'sent')`);

    // Which chain model a platform model is (libs/model-links).
    await createArtefactLinksTable(q);

    // The newest assignment root of each version's pool, committed per epoch on UsageLedger.
    await q.query(`
      CREATE TABLE assignment_roots (
        version_id text PRIMARY KEY,
        pool_id text NOT NULL,
        assignment_root text NOT NULL,
        hosts_committed int NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);

    await q.query(`
      CREATE TABLE settlement_epochs (
        epoch bigint PRIMARY KEY,
        started_at timestamptz NOT NULL,
        ended_at timestamptz NOT NULL,
        receipt_root text NOT NULL,
        receipt_count bigint NOT NULL,
        totals jsonb NOT NULL,
        usage_status text NOT NULL CHECK (usage_status IN ('committing', 'committed', 'empty', 'failed')),
        assignment_root text,
        assignment_status text NOT NULL CHECK (assignment_status IN ('none', 'committing', 'committed', 'failed')),
        allocation_status text NOT NULL DEFAULT 'pending' CHECK (allocation_status IN ('pending', 'posting', 'posted', 'nothing', 'failed')),
        allocation_attempt int NOT NULL DEFAULT 0,
        allocation_root text,
        allocation_total numeric(78, 0),
        error text,
        closed_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE allocation_entries (
        epoch bigint NOT NULL REFERENCES settlement_epochs (epoch),
        account text NOT NULL,
        amount numeric(78, 0) NOT NULL CHECK (amount > 0),
        parts jsonb NOT NULL,
        PRIMARY KEY (epoch, account)
      )`);
    await q.query('CREATE INDEX allocation_entries_account ON allocation_entries (account)');
    // Fees of a chain model allocated per epoch: what the model's deposits still cover is
    // depositedFor(model) minus their sum.
    await q.query(`
      CREATE TABLE model_fee_allocations (
        epoch bigint NOT NULL REFERENCES settlement_epochs (epoch),
        chain_model_id numeric(78, 0) NOT NULL,
        requests bigint NOT NULL,
        fees numeric(78, 0) NOT NULL,
        PRIMARY KEY (epoch, chain_model_id)
      )`);

    await q.query(`
      CREATE TABLE proven_violations (
        violation_id text PRIMARY KEY,
        model_id text NOT NULL,
        prover text NOT NULL,
        kind text NOT NULL,
        evidence_sha256 text NOT NULL,
        proven_at timestamptz NOT NULL
      )`);
    await q.query(`
      CREATE TABLE slashes (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        violation_id text NOT NULL REFERENCES proven_violations (violation_id),
        host_address text NOT NULL,
        role text NOT NULL,
        prover text NOT NULL,
        evidence_hash text NOT NULL UNIQUE,
        chain_model_id numeric(78, 0),
        amount numeric(78, 0),
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'proposing', 'proposed', 'appealed', 'resolving', 'upheld', 'executing', 'executed', 'dismissed', 'skipped', 'failed')),
        attempt int NOT NULL DEFAULT 0,
        chain_slash_id numeric(78, 0) UNIQUE,
        appeal_deadline timestamptz,
        prover_bounty numeric(78, 0),
        owner_share numeric(78, 0),
        note text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (violation_id, host_address)
      )`);

    await q.query(`
      CREATE TABLE governance_params (
        key text PRIMARY KEY,
        value text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE audit_log (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        principal_id text NOT NULL,
        key_id text NOT NULL,
        action text NOT NULL,
        target text NOT NULL,
        before jsonb,
        after jsonb,
        transaction_ids uuid[] NOT NULL DEFAULT '{}'
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of [
      'audit_log',
      'governance_params',
      'slashes',
      'proven_violations',
      'model_fee_allocations',
      'allocation_entries',
      'settlement_epochs',
      'assignment_roots',
      'artefact_links',
      'protocol_transactions',
    ]) {
      await q.query(`DROP TABLE ${t}`);
    }
  }
}
