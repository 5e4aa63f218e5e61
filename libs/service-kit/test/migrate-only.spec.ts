// MIGRATE_ONLY=true: what the migrations Job (k8s) runs before an upgrade. The process applies the
// service's migrations with nothing but DATABASE_URL and exits, opening no port and touching no NATS,
// Redis or S3; a second run finds nothing to do.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ConfigError } from '@clopen/config';
import { createTestDatabase, type TestDatabase } from '@clopen/testing';
import { Client } from 'pg';
import { migrateService } from '../src';
import { widgetsService } from './fixtures/migrate-only.main';

const ROOT = join(__dirname, '../../..');

/** Runs the fixture's main.ts with exactly this environment (plus what node and swc need). */
function runMain(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-r', '@swc-node/register', join(__dirname, 'fixtures/migrate-only.main.ts')], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', SWC_NODE_PROJECT: join(ROOT, 'tsconfig.base.json'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, out }));
  });
}

async function tablesOf(url: string, schema: string): Promise<string[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    const rows = await c.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1', [schema]);
    return rows.rows.map((r: { table_name: string }) => r.table_name);
  } finally {
    await c.end();
  }
}

describe('MIGRATE_ONLY', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db?.drop());

  it('applies every migration of the service with only DATABASE_URL set, exits 0, and finds nothing to do the second time', async () => {
    const first = await runMain({ MIGRATE_ONLY: 'true', DATABASE_URL: db.url });
    expect(first).toEqual({
      code: 0,
      out: 'migrate_fixture: applied BusTables1732528800000, CreateApiKeys1764000000000, CreateWidgets1790000000000, BusRetention1796400000000\n',
    });
    expect(await tablesOf(db.url, 'migrate_fixture')).toEqual(['api_keys', 'migrations', 'outbox_messages', 'processed_messages', 'widgets']);

    const second = await runMain({ MIGRATE_ONLY: 'true', DATABASE_URL: db.url });
    expect(second).toEqual({ code: 0, out: 'migrate_fixture: schema up to date, no migration to apply\n' });
  });

  it('exits 78 naming DATABASE_URL when it is missing', async () => {
    const missing = await runMain({ MIGRATE_ONLY: 'true' });
    expect(missing.code).toBe(78);
    expect(missing.out).toMatch(/^migrate_fixture: invalid configuration: DATABASE_URL: is required but not set/);
  });

  it('refuses a service without a database (nothing to migrate), naming MIGRATE_ONLY', async () => {
    const err = await migrateService({ ...widgetsService, uses: { bus: true, database: false } }, { DATABASE_URL: db.url }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues.map((i) => i.setting)).toEqual(['MIGRATE_ONLY']);
  });
});
