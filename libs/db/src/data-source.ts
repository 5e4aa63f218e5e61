import { DataSource, type EntitySchema, type MixedList, type MigrationInterface } from 'typeorm';

export interface ServiceDataSourceOptions {
  /** postgres:// URL of the server; the database in it is shared by services, the schema is not. */
  url: string;
  /** The service's own PostgreSQL schema: every table and its migrations table live there. */
  schema: string;
  entities: MixedList<Function | string | EntitySchema>;
  migrations: MixedList<Function | string>;
  poolSize?: number;
  /** Only for unit-level tests of entities; services always run migrations. */
  synchronize?: boolean;
  logging?: boolean;
  applicationName?: string;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** One DataSource per service, confined to the service's schema. */
export function createServiceDataSource(opts: ServiceDataSourceOptions): DataSource {
  if (!SCHEMA_NAME.test(opts.schema)) throw new Error(`invalid schema name ${JSON.stringify(opts.schema)}: use lower-case letters, digits and _`);
  if (opts.synchronize && process.env.NODE_ENV === 'production') {
    throw new Error('synchronize is never allowed in production: write a migration');
  }
  return new DataSource({
    type: 'postgres',
    url: opts.url,
    schema: opts.schema,
    entities: opts.entities,
    migrations: opts.migrations,
    migrationsTableName: 'migrations',
    migrationsTransactionMode: 'each',
    synchronize: opts.synchronize ?? false,
    logging: opts.logging ?? false,
    applicationName: opts.applicationName ?? opts.schema,
    poolSize: opts.poolSize ?? 10,
    // Unqualified names in raw SQL resolve inside the service's schema first.
    extra: { options: `-c search_path=${opts.schema},public` },
  });
}

/**
 * Connects, creates the service's schema when missing, and applies pending migrations.
 * Several replicas starting at once are serialised by an advisory lock, so a migration runs once.
 */
export async function openServiceDataSource(ds: DataSource, { runMigrations = true } = {}): Promise<DataSource> {
  await migrateServiceSchema(ds, { runMigrations });
  return ds;
}

/**
 * What openServiceDataSource does, returning the names of the migrations this call applied (none
 * when the schema was up to date, or when another process applied them while this one waited on the
 * lock). A migrations Job reports them.
 */
export async function migrateServiceSchema(ds: DataSource, { runMigrations = true } = {}): Promise<string[]> {
  if (!ds.isInitialized) await ds.initialize();
  const schema = (ds.options as { schema?: string }).schema;
  if (!schema) throw new Error('the DataSource has no schema: create it with createServiceDataSource');
  const runner = ds.createQueryRunner();
  await runner.connect();
  try {
    // Concurrent CREATE SCHEMA IF NOT EXISTS can still collide in PostgreSQL, so it goes under the lock too.
    await runner.query('SELECT pg_advisory_lock(hashtext($1))', [`clopen-migrations:${schema}`]);
    await runner.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    if (!runMigrations) return [];
    const applied = await ds.runMigrations({ transaction: 'each' });
    return applied.map((m) => m.name);
  } finally {
    await runner.query('SELECT pg_advisory_unlock(hashtext($1))', [`clopen-migrations:${schema}`]).catch(() => undefined);
    await runner.release();
  }
}

export type Migration = new () => MigrationInterface;
