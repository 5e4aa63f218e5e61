import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { handwrittenClients } from './handwritten-clients';

describe('handwrittenClients', () => {
  const root = mkdtempSync(join(tmpdir(), 'handwritten-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('finds a copy of a response schema outside its service, and nothing in the service itself or the generated clients', () => {
    const doc = {
      paths: { '/things/{id}': { get: { responses: { '200': { content: { 'application/json': { schema: { $ref: '#/components/schemas/ThingDto' } } } } } } } },
      components: { schemas: { ThingDto: { type: 'object', properties: { id: {}, name: {}, size: {}, createdAt: {} } } } },
    };
    const big = {
      paths: { '/pools/{id}': { get: { responses: { '200': { content: { 'application/json': { schema: { $ref: '#/components/schemas/PoolDto' } } } } } } } },
      components: {
        schemas: {
          PoolDto: {
            type: 'object',
            properties: Object.fromEntries(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'keyLength', 'keyStrategy', 'responseStrategy'].map((k) => [k, {}])),
          },
        },
      },
    };
    const copy = 'export interface Thing { id: string; name: string; size: number; createdAt: string }\n';
    const write = (path: string, text: string) => {
      mkdirSync(join(root, path, '..'), { recursive: true });
      writeFileSync(join(root, path), text);
    };
    write('libs/cli/src/client.ts', `${copy}export interface Other { id: string; colour: string; weight: number }\n`);
    // A message with bytes is no REST body; three fields a large response merely embeds are no copy.
    write('libs/sdk/src/grant.ts', 'export interface GrantInit { id: string; name: string; size: number; key: Uint8Array }\n');
    write('services/things/src/things.ts', copy);
    write('libs/jobs/src/jobs.ts', 'export interface EngineStrategy { keyLength: number; keyStrategy: string; responseStrategy: string }\n');
    write('libs/api-client/src/generated/things.ts', copy);
    expect(
      handwrittenClients(
        root,
        new Map<string, object>([
          ['things', doc],
          ['pools', big],
        ]),
        ['libs', 'services'],
      ),
    ).toEqual([{ file: 'libs/cli/src/client.ts', name: 'Thing', copies: 'things.ThingDto', shared: 4 }]);
  });
});
