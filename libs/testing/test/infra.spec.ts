import { Client } from 'pg';
import { createTestDatabase, startTestS3 } from '../src';

describe('test infrastructure', () => {
  it('gives a suite its own database and drops it', async () => {
    const db = await createTestDatabase();
    const c = new Client({ connectionString: db.url });
    await c.connect();
    const { rows } = await c.query('SELECT current_database() AS name');
    await c.end();
    expect(rows[0].name).toBe(db.name);
    await db.drop();
    const admin = new Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
    await admin.connect();
    const left = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [db.name]);
    await admin.end();
    expect(left.rowCount).toBe(0);
  });

  it('runs a real S3 server with a bucket', async () => {
    const s3 = await startTestS3();
    try {
      const { Client: Minio } = await import('minio');
      const m = new Minio({ endPoint: '127.0.0.1', port: s3.port, useSSL: false, accessKey: s3.accessKey, secretKey: s3.secretKey, pathStyle: true });
      await m.putObject(s3.bucket, 'a/b.txt', Buffer.from('hello'));
      expect(await s3.listKeys()).toEqual(['a/b.txt']);
    } finally {
      await s3.stop();
    }
  });
});
