import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { READY_TIMEOUT_MS } from './limits';
import { freePort } from './process';

const ROOT = join(__dirname, '../../..');
const CONFIG = join(__dirname, '../hardhat/hardhat.config.cjs');

type Hex = `0x${string}`;

export interface HardhatNode {
  /** JSON-RPC over HTTP (and WebSocket on the same port). */
  url: string;
  chainId: number;
  /** Private keys of the node's funded accounts (10000 ETH each), in the node's order. */
  accounts: Hex[];
  rpc<T = unknown>(method: string, params?: unknown[]): Promise<T>;
  /** evm_snapshot: an id for revert(); hardhat forgets it (and every later one) once reverted to. */
  snapshot(): Promise<Hex>;
  revert(id: Hex): Promise<void>;
  mine(blocks?: number): Promise<void>;
  /** Moves the chain's clock forward and mines a block with the new time. */
  increaseTime(seconds: number | bigint): Promise<void>;
  /** The node's recent output, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Starts `hardhat node` from the repository's own hardhat on a free port, in its own process, so
 * every suite has a chain of its own. Waits until eth_chainId answers.
 */
export async function startHardhatNode({ readyTimeoutMs = READY_TIMEOUT_MS } = {}): Promise<HardhatNode> {
  let lastError: unknown;
  // A free port can be taken between freePort() and hardhat's bind; a second port fixes that.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(await freePort(), readyTimeoutMs);
    } catch (e) {
      lastError = e;
      if (!String(e).includes('EADDRINUSE')) break;
    }
  }
  throw lastError;
}

async function startOnce(port: number, readyTimeoutMs: number): Promise<HardhatNode> {
  const cli = require.resolve('hardhat/internal/cli/bootstrap.js', { paths: [ROOT] });
  const child = spawn(process.execPath, [cli, '--config', CONFIG, 'node', '--hostname', '127.0.0.1', '--port', String(port)], {
    cwd: join(__dirname, '..'),
    env: { ...process.env, HARDHAT_DISABLE_TELEMETRY_PROMPT: 'true', NO_COLOR: '1', FORCE_COLOR: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => live.forEach((c) => c.kill('SIGKILL')));
  }
  child.once('exit', () => live.delete(child));

  // The node logs every call; keep the banner (it lists the keys) and a bounded tail.
  let banner = '';
  let tail = '';
  const keep = (d: Buffer) => {
    if (banner.length < 16_384) banner += d;
    else tail = (tail + d).slice(-16_384);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const output = () => banner + tail;

  const url = `http://127.0.0.1:${port}`;
  let id = 0;
  const rpc = async <T>(method: string, params: unknown[] = []): Promise<T> => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params }),
    });
    const body = (await res.json()) as { result?: T; error?: { message: string } };
    if (body.error) throw new Error(`hardhat ${method}: ${body.error.message}`);
    return body.result as T;
  };
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });

  // The account list is printed once the server listens, between two identical warnings.
  const listed = () => (banner.match(/WARNING: These accounts/g) ?? []).length >= 2;
  const deadline = Date.now() + readyTimeoutMs;
  let chainId: number | undefined;
  while (chainId === undefined || !listed()) {
    if (child.exitCode !== null) throw new Error(`hardhat node exited with ${child.exitCode}: ${output()}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`hardhat node was not ready (eth_chainId and its accounts) within ${readyTimeoutMs} ms: ${output()}`);
    }
    chainId ??= await rpc<Hex>('eth_chainId').then(Number, () => undefined);
    if (chainId === undefined || !listed()) await new Promise((r) => setTimeout(r, 100));
  }
  const accounts = [...banner.matchAll(/Private Key: (0x[0-9a-fA-F]{64})/g)].map((m) => m[1] as Hex);

  return {
    url,
    chainId,
    accounts,
    rpc,
    output,
    stop,
    snapshot: () => rpc<Hex>('evm_snapshot'),
    revert: async (snapshotId) => {
      if (!(await rpc<boolean>('evm_revert', [snapshotId]))) throw new Error(`hardhat has no snapshot ${snapshotId} (each can be reverted to once)`);
    },
    mine: async (blocks = 1) => {
      await rpc('hardhat_mine', [`0x${blocks.toString(16)}`]);
    },
    increaseTime: async (seconds) => {
      await rpc('evm_increaseTime', [Number(seconds)]);
      await rpc('evm_mine');
    },
  };
}
