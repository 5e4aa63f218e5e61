import { TEST_ADMIN_KEY } from '@clopen/testing';

/** What a probe of one request found: the route, what was sent, and the answer. */
export interface ProbeResult {
  service: string;
  what: string;
  method: string;
  path: string;
  status: number;
  body: string;
}

const JUNK_IDS = ['not-an-id', '0', '%27%3B--', 'ffffffff-ffff-ffff-ffff-ffffffffffff'];
const JUNK_QUERY = 'after=not-a-uuid&before=x&limit=abc&host=%27%3B--&status=nonsense&versionId=x&grantId=x&counter=-1&reason=x&ttlSeconds=-5';

/**
 * Sends what a careless or hostile client can send to every operation of a running service, as
 * its live OpenAPI document lists them: junk path ids and query values to every route, and to every
 * route with a body JSON that does not parse, a body over the size limit, a JSON array, and headers
 * over Node's limit. Returns every answer; the caller asserts that none is a 5xx and that each
 * malformed input gets its status with a JSON body.
 */
export async function probeService(service: string, url: string, key = TEST_ADMIN_KEY): Promise<ProbeResult[]> {
  const doc = (await (await fetch(`${url}/docs/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
  const out: ProbeResult[] = [];
  const send = async (what: string, method: string, path: string, init: { body?: string; headers?: Record<string, string> } = {}) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...init.headers },
      body: init.body,
      redirect: 'manual',
    }).catch((e: Error) => ({ status: 0, text: async () => e.message }));
    out.push({ service, what, method, path, status: res.status, body: await res.text() });
  };
  for (const [template, operations] of Object.entries(doc.paths)) {
    for (const method of Object.keys(operations).map((m) => m.toUpperCase())) {
      for (const id of JUNK_IDS) {
        const path = template.replace(/\{[^}]+\}/g, id);
        await send('junk ids and query', method, `${path}?${JUNK_QUERY}`, method === 'GET' || method === 'DELETE' ? {} : { body: '{}' });
      }
      if (method === 'GET' || method === 'DELETE') continue;
      const path = template.replace(/\{[^}]+\}/g, '0190f7a2-0000-7000-8000-000000000000');
      await send('malformed JSON', method, path, { body: '{"a": ' });
      await send('oversize body', method, path, { body: JSON.stringify({ a: 'x'.repeat(3 * 1024 * 1024) }) });
      await send('JSON array', method, path, { body: '[1,2,3]' });
      await send('JSON string', method, path, { body: '"x"' });
    }
  }
  await send('64 KB header', 'GET', Object.keys(doc.paths)[0] ?? '/', { headers: { 'x-junk': 'x'.repeat(64 * 1024) } });
  return out;
}
