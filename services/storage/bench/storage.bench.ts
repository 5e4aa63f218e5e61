/**
 * npm run bench:storage — throughput of a 1 GiB model file through the storage service, as a
 * ratio to the raw minio client against the same S3 server in the same run, and the service's
 * peak RSS. Prints one JSON line per metric: upload_ratio, download_ratio (goal ≥ 0.7 each),
 * peak_rss_mb (goal ≤ 256), plus the raw MB/s figures for context.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync, closeSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Client } from 'minio';
import { createTestBusNamespace, createTestDatabase } from '@clopen/testing';
import { ADMIN_KEY, api } from '../test/harness';
import { freePort, spawnStorage } from '../test/process';

const SIZE = Number(process.env.BENCH_BYTES ?? 1024 ** 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const ROOT = join(__dirname, '../../..');

const emit = (metric: string, value: number, unit: string) =>
  console.log(JSON.stringify({ bench: 'storage', metric, value: Math.round(value * 1000) / 1000, unit }));
const log = (msg: string) => process.stderr.write(`[bench:storage] ${msg}\n`);

/** A valid safetensors file of exactly SIZE bytes (one U8 tensor after the header), written in 8 MiB blocks. */
function writeWeights(path: string): string {
  const headerFor = (n: number) => {
    const text = JSON.stringify({ w: { dtype: 'U8', shape: [n], data_offsets: [0, n] } });
    const padded = Buffer.alloc(Math.ceil(Buffer.byteLength(text) / 8) * 8, 0x20);
    padded.write(text);
    return padded;
  };
  const n = SIZE - 8 - headerFor(SIZE).length;
  const header = headerFor(n);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(header.length));
  const fd = openSync(path, 'w');
  const hash = createHash('sha256');
  const write = (b: Buffer) => {
    writeSync(fd, b);
    hash.update(b);
  };
  write(prefix);
  write(header);
  const block = randomBytes(8 * 1024 * 1024);
  for (let left = n; left > 0; left -= block.length) write(left >= block.length ? block : block.subarray(0, left));
  closeSync(fd);
  return hash.digest('hex');
}

function startS3(dir: string, port: number, bucket: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(ROOT, 'tools/s3rver.mjs'), '--port', String(port), '--dir', dir, '--bucket', bucket], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`s3rver exited with ${code}`)));
  });
}

const devNull = () => {
  let bytes = 0;
  return { sink: new Writable({ write: (c, _e, cb) => ((bytes += c.length), cb()) }), bytes: () => bytes };
};

async function timed<T>(what: string, fn: () => Promise<T>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  log(`${what}: ${(SIZE / 1024 ** 2 / s).toFixed(1)} MiB/s (${s.toFixed(2)} s)`);
  return s;
}

function uploadForm(url: string, key: string, file: string, metadata: object): Promise<{ status: number; body: string }> {
  const boundary = '----clopen-bench';
  const files: { path: string; body: Buffer | string }[] = [
    { path: 'config.json', body: Buffer.from(JSON.stringify({ model_type: 'bench' })) },
    { path: 'model.safetensors', body: file },
  ];
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, authorization: `Bearer ${key}` } });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    (async () => {
      req.write(`--${boundary}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n${JSON.stringify(metadata)}\r\n`);
      for (const f of files) {
        req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${f.path}"\r\n\r\n`);
        if (typeof f.body === 'string')
          await pipeline(
            createReadStream(f.body, { highWaterMark: 1024 * 1024 }),
            new Writable({ write: (c, _e, cb) => (req.write(c) ? cb() : req.once('drain', cb)) }),
          );
        else req.write(f.body);
        req.write('\r\n');
      }
      req.end(`--${boundary}--\r\n`);
    })().catch(reject);
  });
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'clopen-bench-'));
  const [db, ns] = await Promise.all([createTestDatabase(), createTestBusNamespace()]);
  const s3Port = await freePort();
  const bucket = 'bench';
  const s3 = await startS3(join(work, 's3'), s3Port, bucket);
  let service: Awaited<ReturnType<typeof spawnStorage>> | undefined;
  try {
    const weights = join(work, 'model.safetensors');
    log(`writing a ${SIZE} byte safetensors file`);
    const sha = writeWeights(weights);
    const config = Buffer.from(JSON.stringify({ model_type: 'bench' }));
    // The baseline is the minio client as it comes (its own part size), streaming the same file.
    const minio = new Client({
      endPoint: '127.0.0.1',
      port: s3Port,
      useSSL: false,
      accessKey: 'S3RVER',
      secretKey: 'S3RVER',
      region: 'us-east-1',
      pathStyle: true,
    });

    const minioBaseline = minio;
    service = await spawnStorage(
      {
        NODE_ENV: 'production',
        LOG_LEVEL: 'warn',
        ADMIN_API_KEY: ADMIN_KEY,
        DATABASE_URL: db.url,
        NATS_URL: process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222',
        BUS_NAMESPACE: ns.namespace,
        S3_ENDPOINT: `http://127.0.0.1:${s3Port}`,
        S3_ACCESS_KEY: 'S3RVER',
        S3_SECRET_KEY: 'S3RVER',
        S3_BUCKET: bucket,
      },
      { built: true },
    );
    const key = (await api(service.url, ADMIN_KEY, 'POST', '/api-keys', { principalId: 'bench', roles: ['owner'] })).body.key;
    const model = (await api(service.url, key, 'POST', '/models', { name: 'bench' })).body;
    const size = statSync(weights).size;
    const download = (versionId: string, path: string) => async () => {
      const d = devNull();
      const res = await fetch(`${service!.url}/versions/${versionId}/files/${path}`, { headers: { authorization: `Bearer ${key}` } });
      if (res.status !== 200 || !res.body) throw new Error(`download failed: ${res.status}`);
      await pipeline(res.body as any, d.sink);
      if (d.bytes() !== SIZE) throw new Error(`downloaded ${d.bytes()} of ${SIZE} bytes`);
    };

    // Rounds alternate baseline and service so that neither profits from running later.
    const ratios: Record<'up' | 'down' | 'proxy', number[]> = { up: [], down: [], proxy: [] };
    let rawUpTotal = 0;
    let rawDownTotal = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      log(`round ${round} of ${ROUNDS}`);
      const rawUp = await timed('raw minio upload', () =>
        minioBaseline.putObject(bucket, `raw/${round}/model.safetensors`, createReadStream(weights, { highWaterMark: 1024 * 1024 }), size),
      );
      const metadata = {
        label: `r${round}`,
        kind: 'base',
        files: [
          { path: 'config.json', size: config.length, sha256: createHash('sha256').update(config).digest('hex') },
          { path: 'model.safetensors', size, sha256: sha },
        ],
      };
      let versionId = '';
      const svcUp = await timed('upload through storage', async () => {
        const res = await uploadForm(`${service!.url}/models/${model.id}/versions`, key, weights, metadata);
        if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${res.body}`);
        versionId = JSON.parse(res.body).id;
      });
      const rawDown = await timed('raw minio download', async () => {
        const d = devNull();
        await pipeline(await minioBaseline.getObject(bucket, `raw/${round}/model.safetensors`), d.sink);
      });
      // What users do: the service authorises and redirects to a presigned S3 URL.
      const svcDown = await timed('download through storage (authorised redirect)', download(versionId, 'model.safetensors'));
      // For callers that cannot reach S3: bytes proxied through the service.
      const svcProxy = await timed('download proxied by storage', download(versionId, 'model.safetensors/content'));
      ratios.up.push(rawUp / svcUp);
      ratios.down.push(rawDown / svcDown);
      ratios.proxy.push(rawDown / svcProxy);
      rawUpTotal += rawUp;
      rawDownTotal += rawDown;
    }
    const status = readFileSync(`/proc/${service.child.pid}/status`, 'utf8');
    const hwmKb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN);

    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    emit('upload_ratio', mean(ratios.up), 'ratio');
    emit('download_ratio', mean(ratios.down), 'ratio');
    emit('download_proxy_ratio', mean(ratios.proxy), 'ratio');
    emit('peak_rss_mb', hwmKb / 1024, 'MB');
    emit('raw_upload_mib_s', (ROUNDS * SIZE) / 1024 ** 2 / rawUpTotal, 'MiB/s');
    emit('raw_download_mib_s', (ROUNDS * SIZE) / 1024 ** 2 / rawDownTotal, 'MiB/s');
  } finally {
    await service?.kill();
    s3.kill('SIGTERM');
    await Promise.allSettled([db.drop(), ns.cleanup()]);
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
