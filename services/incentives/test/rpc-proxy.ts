import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A JSON-RPC proxy in front of the test chain that can misbehave like a remote node: `swallowSends`
 * forwards eth_sendRawTransaction but never answers (the client times out though the transaction
 * arrived), `down` answers nothing at all.
 */
export async function rpcProxy(target: string) {
  const mode = { swallowSends: false, down: false, sends: 0 };
  const hanging = new Set<ServerResponse>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString();
      if (mode.down) {
        hanging.add(res);
        return;
      }
      const calls = [JSON.parse(body)].flat() as { method: string }[];
      const sending = calls.some((c) => c.method === 'eth_sendRawTransaction');
      if (sending) mode.sends += 1;
      const answer = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const text = await answer.text();
      if (sending && mode.swallowSends) {
        hanging.add(res);
        return;
      }
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    mode,
    async close() {
      for (const res of hanging) res.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
