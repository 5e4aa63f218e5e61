import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client as PgClient } from 'pg';

/** Where the real dependencies run; the same variables the services read. */
export const testInfra = {
  postgresUrl: process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  natsUrl: process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222',
  redisUrl: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
};

/** A short random id usable in database names, subjects, stream names and bucket names. */
export function suiteId(prefix = 't'): string {
  return `${prefix}${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** A fresh PostgreSQL database for one suite, dropped (with its connections) afterwards. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = suiteId('t_');
  const admin = new PgClient({ connectionString: testInfra.postgresUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(testInfra.postgresUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      const c = new PgClient({ connectionString: testInfra.postgresUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

export interface TestBusNamespace {
  /** Prefix for subjects and streams, e.g. `t1a2b3c`. */
  namespace: string;
  /** Deletes every stream whose name starts with the namespace. */
  cleanup(): Promise<void>;
}

export function createTestBusNamespace(): TestBusNamespace {
  const namespace = suiteId('t').toLowerCase();
  return {
    namespace,
    async cleanup() {
      const { connect } = await import('nats');
      const nc = await connect({ servers: testInfra.natsUrl });
      try {
        const jsm = await nc.jetstreamManager();
        for await (const stream of jsm.streams.list()) {
          if (stream.config.name.startsWith(`${namespace}_`)) await jsm.streams.delete(stream.config.name);
        }
      } finally {
        await nc.close();
      }
    },
  };
}

export interface TestS3 {
  endpoint: string;
  port: number;
  accessKey: string;
  secretKey: string;
  region: string;
  bucket: string;
  /** Environment variables a service needs to reach this server and bucket. */
  env: Record<string, string>;
  /** Every object key in the bucket (to assert that nothing was left behind). */
  listKeys(): Promise<string[]>;
  /** Multipart uploads started and neither completed nor aborted. */
  listIncompleteUploads(): Promise<string[]>;
  /** Overwrites an object behind the services' back, e.g. to corrupt an artefact. */
  putObject(key: string, data: Buffer): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A real S3 server (s3rver, with MinIO's abort/list of multipart uploads added) on a free port,
 * with its own directory and bucket. The same server `npm start` runs; each suite gets its own.
 */
export async function startTestS3(): Promise<TestS3> {
  const { startS3Server } = require('../s3-server.cjs');
  const { Client } = await import('minio');
  const directory = mkdtempSync(join(tmpdir(), 'clopen-s3-'));
  const bucket = suiteId('b').toLowerCase();
  const server = await startS3Server({ directory, buckets: [bucket] });
  const { port } = server;
  const accessKey = 'S3RVER';
  const secretKey = 'S3RVER';
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new Client({ endPoint: '127.0.0.1', port, useSSL: false, accessKey, secretKey, region: 'us-east-1', pathStyle: true });
  return {
    endpoint,
    port,
    accessKey,
    secretKey,
    region: 'us-east-1',
    bucket,
    env: { S3_ENDPOINT: endpoint, S3_ACCESS_KEY: accessKey, S3_SECRET_KEY: secretKey, S3_BUCKET: bucket, S3_REGION: 'us-east-1' },
    async listKeys() {
      const keys: string[] = [];
      for await (const o of client.listObjectsV2(bucket, '', true)) if (o.name) keys.push(o.name);
      return keys.sort();
    },
    async listIncompleteUploads() {
      return server.incompleteUploads(bucket).map((u: { key: string }) => u.key);
    },
    async putObject(key: string, data: Buffer) {
      await client.putObject(bucket, key, data, data.length);
    },
    async stop() {
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** A Redis key prefix for one suite; cleanup deletes its keys. */
export async function createTestRedisPrefix(): Promise<{ prefix: string; cleanup(): Promise<void> }> {
  const prefix = `${suiteId('t')}:`;
  return {
    prefix,
    async cleanup() {
      const { default: Redis } = await import('ioredis');
      const redis = new Redis(testInfra.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
      await redis.connect();
      try {
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
          if (keys.length) await redis.del(...keys);
          cursor = next;
        } while (cursor !== '0');
      } finally {
        redis.disconnect();
      }
    },
  };
}

/** The bootstrap admin key every test service starts with. */
export const TEST_ADMIN_KEY = 'test-admin-key-0123456789abcdef';

/** The environment a service under test needs to reach a suite's real dependencies. */
export function serviceEnv(parts: { db: TestDatabase; ns: TestBusNamespace; s3?: TestS3 }): Record<string, string> {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    HTTP_PORT: '0',
    HTTP_HOST: '127.0.0.1',
    ADMIN_API_KEY: TEST_ADMIN_KEY,
    DATABASE_URL: parts.db.url,
    NATS_URL: testInfra.natsUrl,
    BUS_NAMESPACE: parts.ns.namespace,
    OUTBOX_RELAY_INTERVAL_MS: '100',
    REDIS_URL: testInfra.redisUrl,
    ...(parts.s3?.env ?? {}),
  };
}
