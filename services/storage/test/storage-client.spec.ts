import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunningService } from '@clopen/service-kit';
import { StorageClient, ApiProblem } from '@clopen/storage-client';
import { singleFileFolder } from './fixtures';
import { ADMIN_KEY, StorageHarness, api } from './harness';

/** @clopen/storage-client, the way other services use storage, against the real service. */
describe('storage client', () => {
  let h: StorageHarness;
  let svc: RunningService<any>;
  let client: StorageClient;
  let modelId: string;
  let dir: string;

  beforeAll(async () => {
    h = await StorageHarness.start();
    svc = await h.startService({ STORAGE_PRESIGN_TTL_SECONDS: '600' });
    client = new StorageClient(svc.url, ADMIN_KEY);
    modelId = (await api(svc.url, ADMIN_KEY, 'POST', '/models', { name: 'client-model' })).body.id;
    dir = await mkdtemp(join(tmpdir(), 'storage-client-'));
    for (const f of singleFileFolder()) await writeFile(join(dir, f.path), f.data);
  });
  afterAll(async () => {
    await svc?.close();
    await h?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('uploads a folder as a version, finds it by label, and downloads it checked', async () => {
    const files = (await readdir(dir)).sort();
    const v = await client.uploadVersion(modelId, dir, files, { label: '1.0.0', kind: 'base', parents: [], licence: { fee: 1 } });
    expect(v.files.map((f) => f.path).sort()).toEqual(files);
    expect((await client.findVersion(modelId, '1.0.0'))?.id).toBe(v.id);
    expect(await client.findVersion(modelId, 'nope')).toBeUndefined();
    const out = await mkdtemp(join(tmpdir(), 'storage-client-out-'));
    try {
      await client.downloadVersion(v.id, out);
      for (const f of files) expect(await readFile(join(out, f))).toEqual(await readFile(join(dir, f)));
    } finally {
      await rm(out, { recursive: true, force: true });
    }
    const again = client.uploadVersion(modelId, dir, files, { label: '1.0.0', kind: 'base', parents: [], licence: {} });
    await expect(again).rejects.toMatchObject({ status: 409, code: 'conflict' });
  });

  it('caps presigned URLs at the configured life and honours a shorter one', async () => {
    const v = (await client.findVersion(modelId, '1.0.0'))!;
    const short = await client.presignedUrl(v.id, 'config.json', 60);
    expect(new URL(short.url).searchParams.get('X-Amz-Expires')).toBe('60');
    const long = await client.presignedUrl(v.id, 'config.json', 99_999);
    expect(new URL(long.url).searchParams.get('X-Amz-Expires')).toBe('600');
    expect((await api(svc.url, ADMIN_KEY, 'GET', `/versions/${v.id}/files/config.json/url?ttlSeconds=0`)).status).toBe(400);
  });

  it('refuses a download whose bytes do not match the record, leaving no file', async () => {
    const v = (await client.findVersion(modelId, '1.0.0'))!;
    const key = (await h.s3.listKeys()).find((k) => k.includes(v.id) && k.endsWith('model.safetensors'))!;
    const size = v.files.find((f) => f.path === 'model.safetensors')!.size;
    await h.s3.putObject(key, Buffer.alloc(size, 7));
    const out = await mkdtemp(join(tmpdir(), 'storage-client-bad-'));
    try {
      const err = await client.downloadVersion(v.id, out).catch((e) => e);
      expect(err).toBeInstanceOf(ApiProblem);
      expect(err.code).toBe('corrupt_artefact');
      expect(err.message).toMatch(/model\.safetensors .* is corrupt: expected/);
      expect(await readdir(out)).not.toContain('model.safetensors');
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  it('names storage when it cannot be reached', async () => {
    await expect(new StorageClient('http://127.0.0.1:9', ADMIN_KEY).getVersion('x')).rejects.toMatchObject({ code: 'unavailable' });
  });
});
