import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateDistribution1764200000000 implements MigrationInterface {
  name = 'CreateDistribution1764200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE fingerprint_pools (
        id uuid PRIMARY KEY,
        model_id uuid NOT NULL,
        version_id uuid NOT NULL UNIQUE,
        owner_id text NOT NULL,
        status text NOT NULL CHECK (status IN ('generating', 'ready', 'failed')),
        failure text,
        size int NOT NULL CHECK (size > 0),
        key_strategy text NOT NULL,
        response_strategy text NOT NULL,
        key_length int NOT NULL,
        hosts int NOT NULL,
        coalition int NOT NULL,
        inclusion_p double precision NOT NULL,
        keys_per_trace int NOT NULL,
        sealed_entries text,
        sealed_seed text NOT NULL,
        entries_root text,
        created_at timestamptz NOT NULL DEFAULT now(),
        ready_at timestamptz,
        CHECK (status <> 'ready' OR (sealed_entries IS NOT NULL AND entries_root IS NOT NULL))
      )`);
    await q.query(`
      CREATE TABLE licences (
        id uuid PRIMARY KEY,
        model_id uuid NOT NULL,
        version_id uuid NOT NULL,
        host_address text NOT NULL,
        origin text NOT NULL CHECK (origin IN ('admin', 'chain')),
        status text NOT NULL CHECK (status IN ('active', 'ended')),
        ended_reason text,
        created_at timestamptz NOT NULL DEFAULT now(),
        ended_at timestamptz
      )`);
    // One active licence per host and version; an ended one may be followed by a new one.
    await q.query(`CREATE UNIQUE INDEX licences_active_host_version ON licences (version_id, host_address) WHERE status = 'active'`);
    await q.query(`CREATE INDEX licences_host ON licences (host_address)`);
    await q.query(`
      CREATE TABLE assignments (
        licence_id uuid PRIMARY KEY REFERENCES licences (id),
        pool_id uuid NOT NULL REFERENCES fingerprint_pools (id),
        host_address text NOT NULL,
        indices int[] NOT NULL,
        leaf text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX assignments_pool ON assignments (pool_id, created_at)`);
    await q.query(`
      CREATE TABLE embedding_jobs (
        licence_id uuid PRIMARY KEY REFERENCES licences (id),
        job_id text NOT NULL UNIQUE,
        state text NOT NULL CHECK (state IN ('waiting_for_pool', 'queued', 'running', 'completed', 'failed', 'cancelled')),
        phase text NOT NULL DEFAULT '',
        percent double precision NOT NULL DEFAULT 0,
        attempts int NOT NULL DEFAULT 0,
        reason text,
        copy_version_id uuid,
        embedded int,
        fingerprint_count int,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CHECK (state <> 'completed' OR copy_version_id IS NOT NULL)
      )`);
    await q.query(`
      CREATE TABLE deliveries (
        id uuid PRIMARY KEY,
        licence_id uuid NOT NULL REFERENCES licences (id),
        host_address text NOT NULL,
        copy_version_id uuid NOT NULL,
        files text[] NOT NULL,
        expires_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX deliveries_licence ON deliveries (licence_id, created_at)`);
    await q.query(`
      CREATE TABLE challenges (
        id uuid PRIMARY KEY,
        pool_id uuid NOT NULL REFERENCES fingerprint_pools (id),
        version_id uuid NOT NULL,
        prover_id text NOT NULL,
        indices int[] NOT NULL,
        trace_id uuid,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX challenges_pool ON challenges (pool_id)`);
    await q.query(`
      CREATE TABLE traces (
        id uuid PRIMARY KEY,
        challenge_id uuid NOT NULL UNIQUE REFERENCES challenges (id),
        version_id uuid NOT NULL,
        requested_by text NOT NULL,
        keys_asked int NOT NULL,
        keys_answered int NOT NULL,
        outcome text NOT NULL,
        false_accusation double precision NOT NULL,
        scores jsonb NOT NULL,
        accused text[] NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['traces', 'challenges', 'deliveries', 'embedding_jobs', 'assignments', 'licences', 'fingerprint_pools']) await q.query(`DROP TABLE ${t}`);
  }
}
