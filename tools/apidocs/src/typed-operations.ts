/**
 * How much of the REST surface is typed in the OpenAPI documents (issue 16's
 * `typed_operations_fraction`, goal 1.0): an operation is typed when each body it takes and each
 * success body it answers has a schema. A POST, PUT or PATCH takes a body unless it says it takes
 * none (`x-clopen-no-body: true`); a success answer has a body unless it is a 204 or a redirect.
 */
export interface TypedOperations {
  operations: number;
  typed: number;
  /** `METHOD path (service)` of each untyped operation, and what it lacks. */
  untyped: string[];
}

type Json = Record<string, unknown>;
const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

const hasSchema = (content: unknown) =>
  Object.values((content ?? {}) as Record<string, { schema?: Json }>).some(
    (c) =>
      c.schema &&
      (c.schema.$ref ||
        c.schema.properties ||
        c.schema.items ||
        c.schema.oneOf ||
        c.schema.anyOf ||
        c.schema.allOf ||
        (c.schema.type && c.schema.type !== 'object')),
  );

export function typedOperations(documents: Map<string, Json>): TypedOperations {
  const result: TypedOperations = { operations: 0, typed: 0, untyped: [] };
  for (const [service, doc] of documents) {
    for (const [path, item] of Object.entries((doc.paths ?? {}) as Record<string, Json>)) {
      for (const method of METHODS) {
        const op = item[method] as Json | undefined;
        if (!op) continue;
        result.operations += 1;
        const lacks: string[] = [];
        const body = op.requestBody as { content?: unknown } | undefined;
        if (['post', 'put', 'patch'].includes(method) && !op['x-clopen-no-body'] && !hasSchema(body?.content)) lacks.push('request body');
        const successes = Object.entries((op.responses ?? {}) as Record<string, { content?: unknown }>).filter(([status]) => /^[23]\d\d$/.test(status));
        if (successes.length === 0 || successes.some(([status, r]) => status !== '204' && !status.startsWith('3') && !hasSchema(r.content)))
          lacks.push('response body');
        if (lacks.length) result.untyped.push(`${method.toUpperCase()} ${path} (${service}): no schema for its ${lacks.join(' or ')}`);
        else result.typed += 1;
      }
    }
  }
  return result;
}
