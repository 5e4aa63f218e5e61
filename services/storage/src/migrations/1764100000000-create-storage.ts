import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateStorage1764100000000 implements MigrationInterface {
  name = 'CreateStorage1764100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE models (
        id uuid PRIMARY KEY,
        name text NOT NULL,
        owner_id text NOT NULL,
        description text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT models_owner_name UNIQUE (owner_id, name)
      )`);
    await q.query(`
      CREATE TABLE model_versions (
        id uuid PRIMARY KEY,
        model_id uuid NOT NULL REFERENCES models (id),
        label text NOT NULL,
        kind text NOT NULL CHECK (kind IN ('base', 'finetune', 'oml', 'quantized', 'merge')),
        licence_terms jsonb NOT NULL,
        weights jsonb NOT NULL,
        manifest_sha256 text NOT NULL,
        total_bytes bigint NOT NULL,
        published_at timestamptz NOT NULL,
        CONSTRAINT model_versions_model_label UNIQUE (model_id, label)
      )`);
    await q.query(`
      CREATE TABLE version_parents (
        version_id uuid NOT NULL REFERENCES model_versions (id) ON DELETE CASCADE,
        parent_id uuid NOT NULL REFERENCES model_versions (id),
        position int NOT NULL,
        PRIMARY KEY (version_id, parent_id),
        CHECK (version_id <> parent_id)
      )`);
    await q.query('CREATE INDEX version_parents_parent ON version_parents (parent_id)');
    await q.query(`
      CREATE TABLE artefact_files (
        version_id uuid NOT NULL REFERENCES model_versions (id) ON DELETE CASCADE,
        path text NOT NULL,
        size_bytes bigint NOT NULL CHECK (size_bytes >= 0),
        sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
        content_type text NOT NULL,
        object_key text NOT NULL UNIQUE,
        PRIMARY KEY (version_id, path)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE artefact_files');
    await q.query('DROP TABLE version_parents');
    await q.query('DROP TABLE model_versions');
    await q.query('DROP TABLE models');
  }
}
