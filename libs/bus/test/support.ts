// Real PostgreSQL and NATS for integration suites: each suite gets its own database and bus namespace.
import { randomBytes } from 'node:crypto';
import { connect } from 'nats';
import { DataSource } from 'typeorm';
import { Bus, BUS_ENTITIES, BusTablesMigration, type BusLogger } from '../src';

export const PG = {
  host: process.env.PGHOST ?? '127.0.0.1',
  port: Number(process.env.PGPORT ?? 5432),
  user: process.env.PGUSER ?? 'postgres',
  password: process.env.PGPASSWORD ?? '',
};
export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

interface PgClient {
  connect(): Promise<void>;
  query(sql: string): Promise<{ rows: unknown[] }>;
  end(): Promise<void>;
}
const { Client } = require('pg') as { Client: new (config: Record<string, unknown>) => PgClient };

async function admin<T>(database: string, fn: (c: PgClient) => Promise<T>): Promise<T> {
  const client = new Client({ ...PG, database });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export function randomName(prefix: string): string {
  return `${prefix}${randomBytes(5).toString('hex')}`;
}

/** A fresh database; `dataSource(schema)` opens a DataSource on that schema with the bus tables migrated. */
export async function createTestDatabase() {
  const name = randomName('t_');
  await admin('postgres', (c) => c.query(`CREATE DATABASE ${name}`));
  const opened: DataSource[] = [];
  return {
    name,
    async dataSource(schema = 'svc', extra: Record<string, unknown> = {}): Promise<DataSource> {
      await admin(name, (c) => c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`));
      const ds = new DataSource({
        type: 'postgres',
        host: PG.host,
        port: PG.port,
        username: PG.user,
        password: PG.password,
        database: name,
        schema,
        extra: { options: `-c search_path=${schema}`, ...extra },
        entities: BUS_ENTITIES,
        migrations: [BusTablesMigration],
        logging: false,
      });
      await ds.initialize();
      await ds.runMigrations();
      opened.push(ds);
      return ds;
    },
    async drop(): Promise<void> {
      await Promise.all(opened.map((ds) => (ds.isInitialized ? ds.destroy() : undefined)));
      await admin('postgres', (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
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
  const namespace = randomName('t');
  return {
    namespace,
    connect(producer: string): Promise<Bus> {
      return Bus.connect({ servers: NATS_URL, producer, namespace, logger: quietLogger });
    },
    async cleanup(): Promise<void> {
      const nc = await connect({ servers: NATS_URL });
      try {
        const jsm = await nc.jetstreamManager();
        for await (const s of jsm.streams.list()) {
          if (s.config.name.startsWith(`${namespace}_`)) await jsm.streams.delete(s.config.name);
        }
      } finally {
        await nc.close();
      }
    },
  };
}

export async function waitFor<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 5_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** All messages of a stream, oldest first. */
export async function streamMessages(bus: Bus, stream: string) {
  const info = await bus.jsm.streams.info(stream);
  const out = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    out.push(await bus.jsm.streams.getMessage(stream, { seq }));
  }
  return out;
}
