import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { eventually } from '@clopen/testing';

const ROOT = join(__dirname, '../../..');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export interface ServiceProcess {
  url: string;
  child: ChildProcess;
  output(): string;
  /** SIGKILL: no shutdown hook runs, as when a node dies. */
  kill(): Promise<void>;
}

/** Runs the storage service's real main.ts in its own process, and waits until /ready answers. */
export async function spawnStorage(env: Record<string, string>, { built = false } = {}): Promise<ServiceProcess> {
  const port = await freePort();
  let out = '';
  // Tests run the sources; the benchmark runs the build, as production does.
  const args = built ? [join(ROOT, 'services/storage/dist/main.js')] : ['-r', '@swc-node/register', join(ROOT, 'services/storage/src/main.ts')];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env, HTTP_PORT: String(port), SWC_NODE_PROJECT: join(ROOT, 'tsconfig.base.json') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;
  await eventually(
    async () => {
      if (child.exitCode !== null) throw new Error(`storage exited with ${child.exitCode}: ${out}`);
      const res = await fetch(`${url}/ready`).catch(() => undefined);
      return res?.status === 200;
    },
    { timeoutMs: 30_000, intervalMs: 200, what: 'storage to be ready' },
  );
  return {
    url,
    child,
    output: () => out,
    kill: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}
