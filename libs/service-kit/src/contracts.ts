import { Injectable, type ArgumentMetadata, type PipeTransform } from '@nestjs/common';
import { ZodResponse as NestZodResponse } from 'nestjs-zod';
import { z } from 'zod';
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

/** A DTO class made by createZodDto from a zod (v3) schema. */
interface Dto<S extends z.ZodTypeAny> {
  isZodDto: true;
  schema: S;
}
type Handler<T> = <F extends (...args: any[]) => T | Promise<T>>(target: object, key: string | symbol, descriptor: TypedPropertyDescriptor<F>) => void;

/**
 * The route answers `type` with `status`: documented in OpenAPI, serialized through the schema
 * (keys it does not name are dropped), and the handler's return type checked against the schema's
 * input by TypeScript (nestjs-zod's own check is `unknown` for zod v3 schemas). The status is
 * required: without one the answer would be documented as `default`, where the problem goes.
 */
export function ZodResponse<S extends z.ZodTypeAny>(options: { status: number; description?: string; type: Dto<S> }): Handler<z.input<S>>;
export function ZodResponse<S extends z.ZodTypeAny>(options: { status: number; description?: string; type: [Dto<S>] }): Handler<z.input<S>[]>;
export function ZodResponse(options: { status: number; description?: string; type: unknown }): Handler<any> {
  return NestZodResponse(options as never) as never;
}

/**
 * A timestamp in a contract: documented as an RFC 3339 `date-time` string (what JSON carries and
 * the generated clients type as string); a handler may return a Date, which is sent as ISO 8601.
 */
export const isoDateTime = (): z.ZodType<string, z.ZodTypeDef, Date | string> =>
  z.preprocess((v) => (v instanceof Date ? v.toISOString() : v), z.string().datetime({ offset: true })) as never;
