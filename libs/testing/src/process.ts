import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { READY_TIMEOUT_MS } from './limits';
import { eventually } from './wait';

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
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
}

/**
 * Runs a service's real main.ts (services/<name>) in its own process, as a test's other service or
 * as the one to kill, and waits until /ready answers. `built` runs dist/main.js, as production does.
 */
export async function spawnService(
  name: string,
  env: Record<string, string>,
  { built = false, readyTimeoutMs = READY_TIMEOUT_MS, port: fixedPort }: { built?: boolean; readyTimeoutMs?: number; port?: number } = {},
): Promise<ServiceProcess> {
  // A restarted service may take its old port back, so that what points at it keeps working.
  const port = fixedPort ?? (await freePort());
  let out = '';
  const args = built ? [join(ROOT, `services/${name}/dist/main.js`)] : ['-r', '@swc-node/register', join(ROOT, `services/${name}/src/main.ts`)];
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
      if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${out}`);
      const res = await fetch(`${url}/ready`).catch(() => undefined);
      return res?.status === 200;
    },
    { timeoutMs: readyTimeoutMs, intervalMs: 200, what: `${name} to be ready` },
  );
  const signal = (sig: NodeJS.Signals) =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill(sig);
    });
  return { url, child, output: () => out, kill: () => signal('SIGKILL'), stop: () => signal('SIGTERM') };
}
