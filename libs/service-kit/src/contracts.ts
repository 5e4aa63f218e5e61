import { Injectable, type ArgumentMetadata, type PipeTransform } from '@nestjs/common';
import type { z } from 'zod';
import { parseInput } from './validation';

/**
 * REST contracts from one source: a route's request and response bodies are zod schemas made into
 * DTO classes with `createZodDto` (nestjs-zod). The same schema validates what comes in (this
 * pipe), shapes what goes out (`ZodResponse`, through nestjs-zod's serializer interceptor, so a
 * field the schema does not name never leaves the service), and describes both in the OpenAPI
 * document, from which the typed clients are generated.
 */
@Injectable()
export class ContractPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    const dto = metadata.metatype as { isZodDto?: boolean; schema?: z.ZodTypeAny } | undefined;
    if (!dto?.isZodDto || !dto.schema) return value;
    const what = metadata.type === 'body' ? 'request body' : metadata.type === 'query' ? 'query' : `path parameter ${metadata.data ?? ''}`.trim();
    return parseInput(dto.schema, value, what);
  }
}
