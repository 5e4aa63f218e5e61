// Real PostgreSQL and NATS for integration suites: each suite gets its own database and bus namespace.
import { createTestBusNamespace, createTestDatabase as createBaseTestDatabase, eventually, testInfra } from '@clopen/testing';
import { DataSource } from 'typeorm';
import { Bus, BUS_ENTITIES, BusTablesMigration, busRetentionMigration, streamMessages, type BusLogger } from '../src';

export const NATS_URL = testInfra.natsUrl;

/** A fresh database; `dataSource(schema)` opens a DataSource on that schema with the bus tables migrated. */
export async function createTestDatabase() {
  const db = await createBaseTestDatabase();
  const opened: DataSource[] = [];
  return {
    name: db.name,
    async dataSource(schema = 'svc', extra: Record<string, unknown> = {}): Promise<DataSource> {
      const ds = new DataSource({
        type: 'postgres',
        url: db.url,
        schema,
        extra: { options: `-c search_path=${schema}`, ...extra },
        entities: BUS_ENTITIES,
        migrations: [BusTablesMigration, busRetentionMigration()],
        logging: false,
      });
      await ds.initialize();
      await ds.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await ds.runMigrations();
      opened.push(ds);
      return ds;
    },
    async drop(): Promise<void> {
      await Promise.all(opened.map((ds) => (ds.isInitialized ? ds.destroy() : undefined)));
      await db.drop();
    },
  };
}

export const quietLogger: BusLogger & { lines: string[] } = {
  lines: [],
  log(m) {
    this.lines.push(m);
  },
  warn(m) {
    this.lines.push(m);
  },
  error(m) {
    this.lines.push(m);
  },
};

/** A namespace of its own for the suite; `cleanup()` deletes its streams. */
export function testNamespace() {
  const ns = createTestBusNamespace();
  return {
    namespace: ns.namespace,
    connect(producer: string): Promise<Bus> {
      return Bus.connect({ servers: NATS_URL, producer, namespace: ns.namespace, logger: quietLogger });
    },
    cleanup: ns.cleanup,
  };
}

export function waitFor<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 5_000, what = 'condition'): Promise<T> {
  return eventually(fn, { timeoutMs, intervalMs: 20, what });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export { streamMessages };
