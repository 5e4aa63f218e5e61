import { BusRequestError, readEvents } from '@clopen/bus';
import { storageV1 } from '@clopen/proto';
import type { RunningService } from '@clopen/service-kit';
import { eventually } from '@clopen/testing';
import { Client } from 'pg';
import { encodeSafetensors } from '../src/artefacts';
import { formFor, metadataFor, postMultipart, sha256, shardedFolder, singleFileFolder, type FolderFile } from './fixtures';
import { ADMIN_KEY, StorageHarness, api } from './harness';

describe('storage service', () => {
  let h: StorageHarness;
  let svc: RunningService<any>;
  let aliceKey: string;
  let bobKey: string;
  let modelId: string;

  const versionsUrl = (id = modelId) => `${svc.url}/models/${id}/versions`;
  const publish = (files: FolderFile[], meta: object, key = aliceKey, id = modelId) => postMultipart(versionsUrl(id), key, formFor(files, meta));

  /** Nothing of a refused upload may remain: no version row, no object, no unfinished multipart upload. */
  async function expectNothingStoredFor(label: string) {
    const c = new Client({ connectionString: h.db.url });
    await c.connect();
    try {
      const { rowCount } = await c.query('SELECT 1 FROM storage.model_versions WHERE label = $1', [label]);
      expect(rowCount).toBe(0);
      const { rows } = await c.query('SELECT object_key FROM storage.artefact_files');
      const known = new Set(rows.map((r) => r.object_key));
      expect((await h.s3.listKeys()).filter((k) => !known.has(k))).toEqual([]);
      expect(await h.s3.listIncompleteUploads()).toEqual([]);
    } finally {
      await c.end();
    }
  }

  beforeAll(async () => {
    h = await StorageHarness.start();
    svc = await h.startService({ STORAGE_MAX_FILE_BYTES: '8MiB', S3_PART_SIZE: '5MiB' });
    aliceKey = (await api(svc.url, ADMIN_KEY, 'POST', '/api-keys', { principalId: 'alice', roles: ['owner'] })).body.key;
    bobKey = (await api(svc.url, ADMIN_KEY, 'POST', '/api-keys', { principalId: 'bob', roles: ['owner', 'host'] })).body.key;
    const res = await api(svc.url, aliceKey, 'POST', '/models', { name: 'tiny-gpt', description: 'test model' });
    expect(res.status).toBe(201);
    modelId = res.body.id;
  });

  afterAll(async () => {
    await svc?.close();
    await h?.stop();
  });

  describe('operations', () => {
    it('serves health, readiness, metrics and OpenAPI without a key', async () => {
      expect((await api(svc.url, undefined, 'GET', '/health')).status).toBe(200);
      const ready = await api(svc.url, undefined, 'GET', '/ready');
      expect(ready.status).toBe(200);
      expect(Object.keys(ready.body.details).sort()).toEqual(['nats', 'postgres', 's3']);
      const metrics = await fetch(`${svc.url}/metrics`).then((r) => r.text());
      expect(metrics).toContain('http_request_duration_seconds');
      const doc = await api(svc.url, undefined, 'GET', '/docs/openapi.json');
      expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/models', '/models/{id}/versions', '/versions/{id}/files/{path}/url']));
    });

    it('refuses requests without a valid key, and roles it lacks', async () => {
      expect((await api(svc.url, undefined, 'GET', '/models')).status).toBe(401);
      expect((await api(svc.url, 'clp_wrong', 'GET', '/models')).body.code).toBe('unauthenticated');
      expect((await api(svc.url, aliceKey, 'POST', '/api-keys', { principalId: 'x', roles: ['admin'] })).status).toBe(403);
    });

    it('revoked keys stop working', async () => {
      const issued = (await api(svc.url, ADMIN_KEY, 'POST', '/api-keys', { principalId: 'carol', roles: ['prover'] })).body;
      expect((await api(svc.url, issued.key, 'GET', '/models')).status).toBe(200);
      expect((await api(svc.url, ADMIN_KEY, 'DELETE', `/api-keys/${issued.id}`)).status).toBe(204);
      expect((await api(svc.url, issued.key, 'GET', '/models')).status).toBe(401);
    });
  });

  describe('models', () => {
    it('announces a registered model on storage.model.registered', async () => {
      const events = await eventually(async () => {
        const all = await readEvents(h.bus, 'storage.model.registered');
        return all.length ? all : undefined;
      });
      expect(events).toHaveLength(1);
      expect(events[0].payload.model?.id).toBe(modelId);
      expect(events[0].payload.model?.ownerId).toBe('alice');
      expect(events[0].envelope.producer).toBe('storage');
      expect(events[0].envelope.correlationId).toBe(events[0].envelope.id);
    });

    it('refuses a duplicate name for the same owner and a bad name', async () => {
      expect((await api(svc.url, aliceKey, 'POST', '/models', { name: 'tiny-gpt' })).status).toBe(409);
      const bad = await api(svc.url, aliceKey, 'POST', '/models', { name: '../x' });
      expect(bad.status).toBe(400);
      expect(bad.body.detail).toMatch(/name must be/);
    });

    it('answers storage.model.get on NATS, with not_found for an unknown id', async () => {
      const res = await h.bus.request('storage.model.get', { id: modelId });
      expect(res.model?.name).toBe('tiny-gpt');
      await expect(h.bus.request('storage.model.get', { id: '0193a000-0000-7000-8000-000000000000' })).rejects.toMatchObject({ code: 'not_found' });
      await expect(h.bus.request('storage.model.get', { id: 'nope' })).rejects.toBeInstanceOf(BusRequestError);
    });
  });

  describe('versions', () => {
    let baseId: string;
    const folder = singleFileFolder();

    it('publishes a model folder, stores every file in S3 and announces it once', async () => {
      const res = await publish(folder, metadataFor(folder, { label: '1.0.0', kind: 'base' }));
      expect(res.status).toBe(201);
      baseId = res.body.id;
      expect(res.body.files.map((f: any) => f.path)).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);
      expect(res.body.weights).toMatchObject({ format: 'safetensors', shards: 1, tensorCount: 2, parameterCount: 192, dtypes: ['F32'] });
      expect(await h.s3.listKeys()).toHaveLength(3);

      const events = await eventually(async () => {
        const all = await readEvents(h.bus, 'storage.version.published');
        return all.length ? all : undefined;
      });
      await new Promise((r) => setTimeout(r, 300));
      expect(await readEvents(h.bus, 'storage.version.published')).toHaveLength(1);
      const v = events[0].payload.version!;
      expect(v.id).toBe(baseId);
      expect(v.kind).toBe(storageV1.VersionKind.BASE);
      expect(v.files.find((f) => f.path === 'model.safetensors')?.sha256).toBe(sha256(folder[2].data));
      expect(v.manifestSha256).toBe(res.body.manifestSha256);
    });

    it('downloads a file through the service and by presigned URL, byte for byte', async () => {
      const direct = await fetch(`${svc.url}/versions/${baseId}/files/model.safetensors/content`, { headers: { authorization: `Bearer ${aliceKey}` } });
      expect(direct.status).toBe(200);
      expect(direct.headers.get('x-checksum-sha256')).toBe(sha256(folder[2].data));
      expect(Buffer.from(await direct.arrayBuffer()).equals(folder[2].data)).toBe(true);

      const signed = await api(svc.url, aliceKey, 'GET', `/versions/${baseId}/files/model.safetensors/url`);
      expect(signed.status).toBe(200);
      const viaS3 = await fetch(signed.body.url);
      expect(Buffer.from(await viaS3.arrayBuffer()).equals(folder[2].data)).toBe(true);

      const redirected = await fetch(`${svc.url}/versions/${baseId}/files/model.safetensors`, { headers: { authorization: `Bearer ${aliceKey}` } });
      expect(redirected.redirected).toBe(true);
      expect(Buffer.from(await redirected.arrayBuffer()).equals(folder[2].data)).toBe(true);
    });

    it('lets only the owner or an admin download', async () => {
      expect((await api(svc.url, bobKey, 'GET', `/versions/${baseId}/files/model.safetensors/url`)).status).toBe(403);
      expect((await api(svc.url, ADMIN_KEY, 'GET', `/versions/${baseId}/files/model.safetensors/url`)).status).toBe(200);
      expect((await api(svc.url, aliceKey, 'GET', `/versions/${baseId}/files/nothing.json/url`)).status).toBe(404);
    });

    it('publishes a sharded folder as a finetune and reports its lineage', async () => {
      const sharded = shardedFolder();
      const res = await publish(sharded, metadataFor(sharded, { label: '1.1.0-ft', kind: 'finetune', parents: [baseId] }));
      expect(res.status).toBe(201);
      expect(res.body.weights).toMatchObject({ shards: 2, tensorCount: 2, dtypes: ['BF16', 'F32'] });
      const lineage = await api(svc.url, bobKey, 'GET', `/versions/${res.body.id}/lineage`);
      expect(lineage.body.map((v: any) => [v.label, v.depth])).toEqual([
        ['1.1.0-ft', 0],
        ['1.0.0', 1],
      ]);
      const viaBus = await h.bus.request('storage.version.get', { id: res.body.id });
      expect(viaBus.version?.parentVersionIds).toEqual([baseId]);
    });

    it('publishes a file larger than one part through a multipart upload', async () => {
      const big = encodeSafetensors({ w: { dtype: 'F16', shape: [3.5 * 1024 * 1024], data: Buffer.alloc(7 * 1024 * 1024, 3) } });
      const files = [folder[0], { path: 'model.safetensors', data: big }];
      const res = await publish(files, metadataFor(files, { label: '1.0.1-large', kind: 'quantized', parents: [baseId] }));
      expect(res.body).toMatchObject({ label: '1.0.1-large' });
      const got = await fetch(`${svc.url}/versions/${res.body.id}/files/model.safetensors`, { headers: { authorization: `Bearer ${aliceKey}` } });
      expect(sha256(Buffer.from(await got.arrayBuffer()))).toBe(sha256(big));
      expect(await h.s3.listIncompleteUploads()).toEqual([]);
    });

    it('refuses a label that already exists, removing what it uploaded', async () => {
      const res = await publish(folder, metadataFor(folder, { label: '1.0.0', kind: 'base' }));
      expect(res.status).toBe(409);
      expect(await h.s3.listKeys()).toHaveLength(3 + 4 + 2);
    });

    it('refuses uploads by someone who does not own the model', async () => {
      const res = await publish(folder, metadataFor(folder, { label: 'stolen', kind: 'base' }), bobKey);
      expect(res.status).toBe(403);
      await expectNothingStoredFor('stolen');
    });
  });

  describe('bad input changes nothing', () => {
    const folder = singleFileFolder();
    const weights = folder.find((f) => f.path === 'model.safetensors')!;

    it('a wrong checksum', async () => {
      const res = await publish(folder, metadataFor(folder, { label: 'bad-sum', kind: 'base' }, { 'model.safetensors': { sha256: 'a'.repeat(64) } }));
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('checksum_mismatch');
      expect(res.body.detail).toContain('expected ' + 'a'.repeat(64));
      await expectNothingStoredFor('bad-sum');
    });

    it('a wrong checksum on a file large enough for a multipart upload, which is aborted', async () => {
      const big = encodeSafetensors({ w: { dtype: 'U8', shape: [7 * 1024 * 1024], data: Buffer.alloc(7 * 1024 * 1024, 7) } });
      const files = [folder[0], { path: 'model.safetensors', data: big }];
      const res = await publish(files, metadataFor(files, { label: 'big-bad-sum', kind: 'base' }, { 'model.safetensors': { sha256: 'b'.repeat(64) } }));
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('checksum_mismatch');
      await expectNothingStoredFor('big-bad-sum');
    });

    it('a corrupt safetensors header', async () => {
      const corrupt = Buffer.from(weights.data);
      corrupt.write('[', 8);
      const files = folder.map((f) => (f === weights ? { ...f, data: corrupt } : f));
      const res = await publish(files, metadataFor(files, { label: 'corrupt', kind: 'base' }));
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('corrupt_safetensors');
      await expectNothingStoredFor('corrupt');
    });

    it('a missing config.json', async () => {
      const files = folder.filter((f) => f.path !== 'config.json');
      const res = await publish(files, metadataFor(files, { label: 'no-config', kind: 'base' }));
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('missing_config');
      await expectNothingStoredFor('no-config');
    });

    it('an oversize file, declared or not', async () => {
      const big = { path: 'model.safetensors', data: Buffer.alloc(9 * 1024 * 1024) };
      const files = [folder[0], big];
      const declared = await publish(files, metadataFor(files, { label: 'big', kind: 'base' }));
      expect(declared.status).toBe(413);
      expect(declared.body.detail).toContain('STORAGE_MAX_FILE_BYTES');
      const undeclared = await publish(files, metadataFor(files, { label: 'big2', kind: 'base' }, { 'model.safetensors': { size: 1000 } }));
      expect(undeclared.status).toBe(400);
      await expectNothingStoredFor('big');
      await expectNothingStoredFor('big2');
    });

    it.each(['../config.json', 'sub/config.json', '.env', 'C:\\x.json', '/etc/passwd', 'model.bin'])('a path trick or unsafe file: %s', async (name) => {
      const files = [...folder, { path: name, data: Buffer.from('{}') }];
      const res = await publish(files, metadataFor(files, { label: 'tricky', kind: 'base' }));
      expect(res.status).toBe(400);
      expect(['invalid_file_name', 'unexpected_file']).toContain(res.body.code);
      await expectNothingStoredFor('tricky');
    });

    it('an unknown parent version', async () => {
      const res = await publish(folder, metadataFor(folder, { label: 'orphan', kind: 'finetune', parents: ['0193a000-0000-7000-8000-000000000000'] }));
      expect(res.status).toBe(404);
      expect(res.body.code).toBe('unknown_parent');
      await expectNothingStoredFor('orphan');
    });

    it('a file not declared in metadata, and a declared file that never came', async () => {
      const undeclared = await publish(folder, metadataFor(folder.slice(0, 2), { label: 'extra', kind: 'base' }));
      expect(undeclared.body.code).toBe('undeclared_file');
      const missing = await postMultipart(versionsUrl(), aliceKey, formFor(folder.slice(0, 2), metadataFor(folder, { label: 'short', kind: 'base' })));
      expect(missing.status).toBe(400);
      expect(missing.body.code).toBe('truncated');
      await expectNothingStoredFor('extra');
      await expectNothingStoredFor('short');
    });

    it('an upload cut off mid-file', async () => {
      const big = singleFileFolder();
      const res = await postMultipart(versionsUrl(), aliceKey, formFor(big, metadataFor(big, { label: 'cut', kind: 'base' })), { cutAfterBytes: 2000 });
      expect(res.status).not.toBe(201);
      await eventually(async () => {
        await expectNothingStoredFor('cut');
        return true;
      });
    });

    it('metadata that is not JSON, or comes after the files', async () => {
      const notJson = await postMultipart(versionsUrl(), aliceKey, [{ name: 'metadata', value: '{oops' }]);
      expect(notJson.status).toBe(400);
      expect(notJson.body.code).toBe('invalid_metadata');
      const late = await postMultipart(versionsUrl(), aliceKey, [
        ...formFor(folder, {}).slice(1),
        { name: 'metadata', value: JSON.stringify(metadataFor(folder, { label: 'late', kind: 'base' })) },
      ]);
      expect(late.status).toBe(400);
      await expectNothingStoredFor('late');
    });

    it('sweeps what a process that died mid-upload left behind, and nothing else', async () => {
      const { Client: Minio } = await import('minio');
      const m = new Minio({ endPoint: '127.0.0.1', port: h.s3.port, useSSL: false, accessKey: h.s3.accessKey, secretKey: h.s3.secretKey, pathStyle: true });
      const dead = `models/${modelId}/versions/0193a000-0000-7000-8000-0000000000aa`;
      await m.putObject(h.s3.bucket, `${dead}/config.json`, Buffer.from('{}'));
      await m.initiateNewMultipartUpload(h.s3.bucket, `${dead}/model.safetensors`, {});
      const before = await h.s3.listKeys();
      expect(await h.s3.listIncompleteUploads()).toEqual([`${dead}/model.safetensors`]);
      await new Promise((r) => setTimeout(r, 1100));

      expect((await api(svc.url, aliceKey, 'POST', '/admin/sweep-orphans?olderThanMinutes=0')).status).toBe(403);
      const res = await api(svc.url, ADMIN_KEY, 'POST', '/admin/sweep-orphans?olderThanMinutes=0');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ removedObjects: [`${dead}/config.json`], abortedUploads: [`${dead}/model.safetensors`] });
      expect(await h.s3.listKeys()).toEqual(before.filter((k) => !k.startsWith(dead)));
      expect(await h.s3.listIncompleteUploads()).toEqual([]);
    });

    it('announced nothing for any refused upload', async () => {
      const events = await readEvents(h.bus, 'storage.version.published');
      expect(events.map((e) => e.payload.version?.label).sort()).toEqual(['1.0.0', '1.0.1-large', '1.1.0-ft']);
    });
  });
});
