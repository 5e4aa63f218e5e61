import { createTestDatabase, type TestDatabase } from '@clopen/testing';
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { createServiceDataSource, openServiceDataSource } from '../src';

class CreateThings1700000000000 implements MigrationInterface {
  name = 'CreateThings1700000000000';
  async up(q: QueryRunner) {
    await q.query('CREATE TABLE things (id int PRIMARY KEY)');
  }
  async down(q: QueryRunner) {
    await q.query('DROP TABLE things');
  }
}

describe('service data source', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db.drop());

  it('keeps each service in its own schema and runs a migration once when replicas start together', async () => {
    const open = (schema: string) =>
      openServiceDataSource(createServiceDataSource({ url: db.url, schema, entities: [], migrations: [CreateThings1700000000000], poolSize: 2 }));
    const replicas = await Promise.all([open('alpha'), open('alpha'), open('alpha'), open('beta')]);
    try {
      const tables = await replicas[0].query(
        `SELECT table_schema, table_name FROM information_schema.tables WHERE table_name IN ('things', 'migrations') ORDER BY 1, 2`,
      );
      expect(tables).toEqual([
        { table_schema: 'alpha', table_name: 'migrations' },
        { table_schema: 'alpha', table_name: 'things' },
        { table_schema: 'beta', table_name: 'migrations' },
        { table_schema: 'beta', table_name: 'things' },
      ]);
      const applied = await replicas[0].query('SELECT name FROM alpha.migrations');
      expect(applied).toEqual([{ name: 'CreateThings1700000000000' }]);
    } finally {
      await Promise.all(replicas.map((r) => r.destroy()));
    }
  });

  it('refuses synchronize in production and bad schema names', () => {
    const prev = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      expect(() => createServiceDataSource({ url: db.url, schema: 'x', entities: [], migrations: [], synchronize: true })).toThrow(
        /never allowed in production/,
      );
    } finally {
      process.env.NODE_ENV = prev;
    }
    expect(() => createServiceDataSource({ url: db.url, schema: 'Robert"; DROP', entities: [], migrations: [] })).toThrow(/invalid schema name/);
  });
});
