import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSafetensors } from '@clopen/safetensors';
import { run, type CliIo } from '../src';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout as the one JSON document --json promises (throws if it is not exactly one). */
  json(): any;
}

/** Runs one command line in this process, as the `clopen` binary would, and captures its output. */
export async function clopen(argv: string[], env: Record<string, string | undefined> = {}, over: Partial<CliIo> = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s), isTTY: false },
    env,
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 20))),
    ...over,
  };
  const code = await run(argv, io);
  return { code, stdout, stderr, json: () => JSON.parse(stdout) };
}

/** A small but real model folder (config.json, tokenizer.json, model.safetensors of about `weightsBytes`). */
export function modelFolder(weightsBytes = 64 * 1024): string {
  const dir = mkdtempSync(join(tmpdir(), 'clopen-cli-model-'));
  const rows = Math.max(1, Math.floor(weightsBytes / 4 / 64));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', n_embd: 64, n_layer: 1, vocab_size: rows }));
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({ version: '1.0', model: { type: 'BPE', vocab: { a: 0, b: 1 }, merges: [] } }));
  writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors({ 'wte.weight': { dtype: 'F32', shape: [rows, 64], data: randomBytes(rows * 64 * 4) } }));
  writeFileSync(join(dir, '.gitattributes'), '*.safetensors filter=lfs\n');
  return dir;
}

/**
 * A TCP proxy in front of a service that cuts every connection once more than `cutAfterBytes`
 * have gone upstream: a network failure in the middle of a large upload.
 */
export async function cuttingProxy(target: string, cutAfterBytes: number): Promise<{ url: string; cuts: number; close(): Promise<void> }> {
  const { hostname, port } = new URL(target);
  const state = { url: '', cuts: 0, close: async () => {} };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(port), hostname);
    sockets.add(client).add(upstream);
    let sent = 0;
    client.on('data', (chunk: Buffer) => {
      sent += chunk.length;
      if (sent > cutAfterBytes) {
        state.cuts += 1;
        client.destroy();
        upstream.destroy();
        return;
      }
      upstream.write(chunk);
    });
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  state.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    });
  return state;
}

export type Route = (
  req: http.IncomingMessage,
  body: string,
) => { status?: number; body: unknown; headers?: Record<string, string> } | Promise<{ status?: number; body: unknown; headers?: Record<string, string> }>;

/** A fake service: `routes` maps "METHOD /path" (path without the query) to an answer; anything else is a 404 in the services' error shape. */
export async function fakeService(
  routes: Record<string, Route>,
): Promise<{ url: string; calls: { method: string; path: string; headers: http.IncomingHttpHeaders; body: string }[]; close(): Promise<void> }> {
  const calls: { method: string; path: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
  const server = http.createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    calls.push({ method: req.method!, path: req.url!, headers: req.headers, body });
    const route = routes[`${req.method} ${req.url!.split('?')[0]}`];
    const answer = route
      ? await route(req, body)
      : {
          status: 404,
          body: {
            type: 'https://clopen.dev/problems/not-found',
            title: 'Not found',
            status: 404,
            code: 'not_found',
            detail: `no route ${req.method} ${req.url}`,
          },
        };
    res.writeHead(answer.status ?? 200, { 'content-type': 'application/json', ...answer.headers });
    res.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    calls,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
