import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { StorageHarness } from './harness';
import { spawnStorage } from './process';

const ROOT = join(__dirname, '../../..');

describe('storage process', () => {
  it('refuses to start with bad settings, naming them, with exit code 78', () => {
    const r = spawnSync(process.execPath, ['-r', '@swc-node/register', join(ROOT, 'services/storage/src/main.ts')], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, SWC_NODE_PROJECT: join(ROOT, 'tsconfig.base.json'), ADMIN_API_KEY: 'short', S3_BUCKET: 'Bad_Bucket' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(78);
    for (const setting of ['ADMIN_API_KEY', 'DATABASE_URL', 'NATS_URL', 'S3_ENDPOINT', 'S3_BUCKET']) expect(r.stderr).toContain(setting);
  });

  it('shuts down cleanly on SIGTERM', async () => {
    const h = await StorageHarness.start();
    try {
      const proc = await spawnStorage(h.env({ LOG_LEVEL: 'info' }));
      const exited = new Promise<number | null>((resolve) => proc.child.once('exit', (code) => resolve(code)));
      proc.child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(proc.output()).toContain('SIGTERM: shutting down');
    } finally {
      await h.stop();
    }
  });
});
