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
    const copy = 'export interface Thing { id: string; name: string; size: number; createdAt: string }\n';
    const write = (path: string, text: string) => {
      mkdirSync(join(root, path, '..'), { recursive: true });
      writeFileSync(join(root, path), text);
    };
    write('libs/cli/src/client.ts', `${copy}export interface Other { id: string; colour: string; weight: number }\n`);
    write('services/things/src/things.ts', copy);
    write('libs/api-client/src/generated/things.ts', copy);
    expect(handwrittenClients(root, new Map([['things', doc]]), ['libs', 'services'])).toEqual([{ file: 'libs/cli/src/client.ts', name: 'Thing', copies: 'things.ThingDto', shared: 4 }]);
  });
});
