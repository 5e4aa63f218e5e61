import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { throwError } from 'rxjs';

/**
 * Base of every domain failure. Subclasses fix `code` (stable, machine-readable; also the NATS
 * `Clopen-Error` header) and `status` (HTTP). The mapping happens once, here and in the bus.
 */
export abstract class DomainError extends Error {
  abstract readonly code: string;
  abstract readonly status: number;
  constructor(message: string, readonly details?: Record<string, unknown>) {
    super(message);
    this.name = new.target.name;
  }
}

export class NotFound extends DomainError {
  readonly code = 'not_found';
  readonly status = HttpStatus.NOT_FOUND;
}
export class InvalidArgument extends DomainError {
  readonly code = 'invalid_argument';
  readonly status = HttpStatus.BAD_REQUEST;
}
export class Conflict extends DomainError {
  readonly code = 'conflict';
  readonly status = HttpStatus.CONFLICT;
}
export class Forbidden extends DomainError {
  readonly code = 'forbidden';
  readonly status = HttpStatus.FORBIDDEN;
}
export class Unauthenticated extends DomainError {
  readonly code = 'unauthenticated';
  readonly status = HttpStatus.UNAUTHORIZED;
}
export class PayloadTooLarge extends DomainError {
  readonly code = 'payload_too_large';
  readonly status = HttpStatus.PAYLOAD_TOO_LARGE;
}
/** A service this one depends on did not answer; the caller may retry. */
export class Unavailable extends DomainError {
  readonly code = 'unavailable';
  readonly status = HttpStatus.SERVICE_UNAVAILABLE;
}

export interface ErrorBody {
  error: string;
  message: string;
  details?: Record<string, unknown>;
}

/**
 * Routes whose clients expect another error shape (the gateway's OpenAI-compatible /v1/ routes):
 * the status and the platform's body, rendered as they want it.
 */
export interface ErrorShape {
  pathPrefix: string;
  render(status: number, body: ErrorBody): unknown;
}

/** Maps DomainError and Nest's HttpException to one JSON error shape; hides internals of anything else. */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('ErrorFilter');

  constructor(private readonly shape?: ErrorShape) {}

  catch(exception: unknown, host: ArgumentsHost) {
    // On the bus the transport maps errors itself (code → Clopen-Error header, reason → DLQ):
    // hand it the original error, which Nest's default RPC filter would flatten to "internal".
    if (host.getType() !== 'http') return throwError(() => exception);
    const res = host.switchToHttp().getResponse<Response>();
    const { status, body } = toHttpError(exception);
    if (status >= 500) this.logger.error(exception instanceof Error ? exception.stack : String(exception));
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const path = host.switchToHttp().getRequest<{ path?: string }>().path ?? '';
    res.status(status).json(this.shape && path.startsWith(this.shape.pathPrefix) ? this.shape.render(status, body) : body);
  }
}

/**
 * What body-parser and other http-errors style failures say about a request (a body too large,
 * JSON that does not parse, an unsupported charset): the client's fault, with its own status.
 */
const BODY_ERRORS: Record<string, { code: string; message: (e: { message: string; limit?: number }) => string }> = {
  'entity.too.large': { code: 'payload_too_large', message: (e) => `the request body is larger than the ${e.limit ? `${e.limit} bytes` : 'limit'} this route accepts` },
  'entity.parse.failed': { code: 'invalid_argument', message: (e) => `the request body is not valid JSON: ${e.message}` },
  'entity.verify.failed': { code: 'invalid_argument', message: (e) => e.message },
  'request.aborted': { code: 'invalid_argument', message: () => 'the request was aborted before its body arrived' },
  'request.size.invalid': { code: 'invalid_argument', message: () => 'the request body is not as long as its Content-Length says' },
  'encoding.unsupported': { code: 'unsupported_media_type', message: (e) => e.message },
  'charset.unsupported': { code: 'unsupported_media_type', message: (e) => e.message },
  'parameters.too.many': { code: 'payload_too_large', message: () => 'the request has too many parameters' },
};

function clientFault(exception: unknown): { status: number; body: ErrorBody } | undefined {
  if (!exception || typeof exception !== 'object') return undefined;
  const e = exception as { status?: unknown; statusCode?: unknown; type?: unknown; message: string; limit?: number; expose?: boolean };
  const status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : undefined;
  if (!status || status < 400 || status >= 500) return undefined;
  const known = typeof e.type === 'string' ? BODY_ERRORS[e.type] : undefined;
  if (known) return { status, body: { error: known.code, message: known.message(e) } };
  return e.expose ? { status, body: { error: httpCode(status), message: e.message } } : undefined;
}

export function toHttpError(exception: unknown): { status: number; body: ErrorBody } {
  if (exception instanceof DomainError) {
    return { status: exception.status, body: { error: exception.code, message: exception.message, ...(exception.details ? { details: exception.details } : {}) } };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const response = exception.getResponse();
    // Terminus' 503 carries the state of each dependency: operators need it as it is.
    if (typeof response === 'object' && response && 'details' in response && 'status' in response) return { status, body: response as unknown as ErrorBody };
    const message = typeof response === 'string' ? response : Array.isArray((response as any).message) ? (response as any).message.join('; ') : String((response as any).message ?? exception.message);
    // Nest's JSON body parser reports a body that does not parse as a bare 400 with JSON.parse's words.
    if (status === 400 && /JSON|^Unexpected (token|end|non-whitespace)|^Expected /.test(message) && exception.constructor.name === 'BadRequestException' && (response as { error?: string }).error === 'Bad Request') {
      return { status, body: { error: 'invalid_argument', message: `the request body is not valid JSON: ${message}` } };
    }
    return { status, body: { error: httpCode(status), message } };
  }
  const fault = clientFault(exception);
  if (fault) return fault;
  return { status: 500, body: { error: 'internal', message: 'internal error; see the service log' } };
}

function httpCode(status: number): string {
  switch (status) {
    case 400: return 'invalid_argument';
    case 401: return 'unauthenticated';
    case 403: return 'forbidden';
    case 404: return 'not_found';
    case 409: return 'conflict';
    case 413: return 'payload_too_large';
    case 415: return 'unsupported_media_type';
    case 431: return 'header_too_large';
    default: return status >= 500 ? 'internal' : 'http_' + status;
  }
}
