import { typedOperations } from './typed-operations';

describe('typedOperations', () => {
  it('counts an operation typed only when every body it takes and answers has a schema', () => {
    const schema = { content: { 'application/json': { schema: { $ref: '#/components/schemas/X' } } } };
    const bare = { content: { 'application/json': { schema: { type: 'object' } } } };
    const doc = {
      paths: {
        '/a': { get: { responses: { '200': schema } }, post: { requestBody: schema, responses: { '201': schema } } },
        '/b': { post: { responses: { '201': schema } }, put: { requestBody: bare, responses: { '200': schema } } },
        '/c': { post: { 'x-clopen-no-body': true, responses: { '204': { description: '' } } }, get: { responses: { '200': { description: '' } } } },
        '/d': { get: { responses: { '302': { description: 'a redirect' } } }, delete: { responses: { default: schema } } },
      },
    };
    const t = typedOperations(new Map([['svc', doc]]));
    expect([t.operations, t.typed]).toEqual([8, 4]);
    expect(t.untyped).toEqual([
      'POST /b (svc): no schema for its request body',
      'PUT /b (svc): no schema for its request body',
      'GET /c (svc): no schema for its response body',
      'DELETE /d (svc): no schema for its response body',
    ]);
  });
});
