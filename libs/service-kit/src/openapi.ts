import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { cleanupOpenApiDoc } from 'nestjs-zod';
import { PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE } from './errors';

/**
 * A service's OpenAPI document: its title and description, the two ways to pass an API key, and
 * every route of its controllers. The one builder behind both /docs and docs/openapi/<service>.json.
 */
export function openApiDocument(app: INestApplication, service: { title: string; description: string }): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle(service.title)
    .setDescription(service.description)
    .setVersion('1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'API key' })
    .addApiKey({ type: 'apiKey', in: 'header', name: 'X-API-Key' }, 'api-key')
    .build();
  return withProblems(cleanupOpenApiDoc(SwaggerModule.createDocument(app, config)));
}

/** RFC 9457: the one shape of every error a service answers. */
const PROBLEM_SCHEMA = {
  type: 'object',
  description: 'An RFC 9457 problem: every error a Clopen service answers has this shape (content type application/problem+json).',
  properties: {
    type: {
      type: 'string',
      format: 'uri',
      description: `stable per domain error: ${PROBLEM_TYPE_BASE}<kebab-cased error name>, e.g. ${PROBLEM_TYPE_BASE}model-not-found`,
    },
    title: { type: 'string', description: 'a short summary of the type' },
    status: { type: 'integer', description: 'the HTTP status' },
    detail: { type: 'string', description: 'what went wrong with this request, in words' },
    code: { type: 'string', description: "the kind of failure (not_found, invalid_argument, conflict, …); the same as the bus's Clopen-Error header" },
    instance: { type: 'string', description: 'the path of the request' },
    details: { type: 'object', additionalProperties: true, description: 'machine-readable specifics (the bad fields of a request, a reason)' },
  },
  required: ['type', 'title', 'status', 'detail', 'code'],
};

/** Adds the Problem schema and, to every operation, a default answer with it. */
function withProblems(doc: OpenAPIObject): OpenAPIObject {
  doc.components = { ...doc.components, schemas: { ...doc.components?.schemas, Problem: PROBLEM_SCHEMA as never } };
  for (const item of Object.values(doc.paths)) {
    for (const op of Object.values(item) as { responses?: Record<string, unknown> }[]) {
      if (!op || typeof op !== 'object' || !('responses' in op)) continue;
      // An operation that documents its own error shape (the gateway's OpenAI-compatible routes) keeps it.
      if (op.responses?.['4XX'] || op.responses?.['5XX']) continue;
      // A response documented without a status lands under `default`, where the problem goes.
      if (op.responses?.default)
        throw new Error(
          `an operation of ${JSON.stringify(Object.keys(doc.paths).find((p) => doc.paths[p] === item))} documents a response without a status; give ZodResponse/ApiResponse its status`,
        );
      op.responses = {
        ...op.responses,
        default: { description: 'An error, as an RFC 9457 problem', content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: '#/components/schemas/Problem' } } } },
      };
    }
  }
  return doc;
}
