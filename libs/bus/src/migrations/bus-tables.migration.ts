import type { MigrationInterface, QueryRunner } from 'typeorm';

const NAME = 'BusTables1732528800000';

function quote(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}

async function targetSchema(queryRunner: QueryRunner, schema: string | undefined): Promise<string> {
  if (schema) return schema;
  const configured = (queryRunner.connection.options as { schema?: string }).schema;
  if (configured) return configured;
  const [row] = (await queryRunner.query('SELECT current_schema() AS schema')) as { schema: string }[];
  return row.schema;
}

/**
 * Creates outbox_messages and processed_messages. Without a schema argument the tables land in the
 * DataSource's `schema` option (else the search_path's current schema), i.e. in the service's own schema.
 * Add it to the service's migration list: `migrations: [BusTablesMigration, ...own]`.
 */
export function busTablesMigration(schema?: string): new () => MigrationInterface {
  return class BusTables1732528800000 implements MigrationInterface {
    readonly name = NAME;

    async up(queryRunner: QueryRunner): Promise<void> {
      const s = quote(await targetSchema(queryRunner, schema));
      await queryRunner.query(`CREATE TABLE ${s}."outbox_messages" (
        "id" uuid NOT NULL,
        "subject" text NOT NULL,
        "envelope" bytea NOT NULL,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT clock_timestamp(),
        "published_at" TIMESTAMP WITH TIME ZONE,
        "attempts" integer NOT NULL DEFAULT 0,
        "last_error" text,
        CONSTRAINT "outbox_messages_pkey" PRIMARY KEY ("id"))`);
      // The relay only ever reads unpublished rows, oldest first.
      await queryRunner.query(`CREATE INDEX "outbox_messages_unpublished_idx" ON ${s}."outbox_messages" ("created_at") WHERE "published_at" IS NULL`);
      await queryRunner.query(`CREATE TABLE ${s}."processed_messages" (
        "consumer" text NOT NULL,
        "message_id" text NOT NULL,
        "processed_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT "processed_messages_pkey" PRIMARY KEY ("consumer", "message_id"))`);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      const s = quote(await targetSchema(queryRunner, schema));
      await queryRunner.query(`DROP TABLE ${s}."processed_messages"`);
      await queryRunner.query(`DROP TABLE ${s}."outbox_messages"`);
    }
  };
}

/** The bus tables in the connection's own schema. */
export const BusTablesMigration = busTablesMigration();

/** Indexes the retention prune reads by (BusRetention): published outbox rows by age, processed messages by age. */
export function busRetentionMigration(schema?: string): new () => MigrationInterface {
  return class BusRetention1796400000000 implements MigrationInterface {
    readonly name = 'BusRetention1796400000000';

    async up(queryRunner: QueryRunner): Promise<void> {
      const s = quote(await targetSchema(queryRunner, schema));
      await queryRunner.query(`CREATE INDEX "outbox_messages_published_idx" ON ${s}."outbox_messages" ("published_at") WHERE "published_at" IS NOT NULL`);
      await queryRunner.query(`CREATE INDEX "processed_messages_processed_at_idx" ON ${s}."processed_messages" ("processed_at")`);
    }

    async down(queryRunner: QueryRunner): Promise<void> {
      const s = quote(await targetSchema(queryRunner, schema));
      await queryRunner.query(`DROP INDEX ${s}."processed_messages_processed_at_idx"`);
      await queryRunner.query(`DROP INDEX ${s}."outbox_messages_published_idx"`);
    }
  };
}
