import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { throwError } from 'rxjs';

/** Where problem types live: `type` of a problem is this plus the slug of the domain error. */
export const PROBLEM_TYPE_BASE = 'https://clopen.dev/problems/';

/**
 * Base of every domain failure. Subclasses fix `code` (stable, machine-readable; also the NATS
 * `Clopen-Error` header) and `status` (HTTP). The mapping happens once, here and in the bus.
 * Over HTTP each failure is an RFC 9457 problem whose `type` names the error class
 * (`ModelNotFound` → `https://clopen.dev/problems/model-not-found`), so a client can tell one
 * domain error from another of the same status without reading the message.
 */
export abstract class DomainError extends Error {
  abstract readonly code: string;
  abstract readonly status: number;
  /** The slug of its problem type; the kebab-cased class name unless a subclass fixes it. */
  readonly problem: string;
  constructor(
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = new.target.name;
    this.problem = kebab(new.target.name);
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

/**
 * Every error a service answers over HTTP: an RFC 9457 problem (`application/problem+json`).
 * `type` is stable per domain error, `code` per kind of failure (the same as the bus's
 * `Clopen-Error` header), `detail` says what went wrong with this request in words.
 */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  details?: Record<string, unknown>;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

const kebab = (name: string) =>
  name
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1-$2')
    .replace(/_/g, '-')
    .toLowerCase();
const titleOf = (slug: string) => slug.charAt(0).toUpperCase() + slug.slice(1).replace(/-/g, ' ');

/** A problem of a failure that has no class of its own: its type is the code's. */
export function problem(status: number, code: string, detail: string, details?: Record<string, unknown>, slug = kebab(code)): Problem {
  return { type: PROBLEM_TYPE_BASE + slug, title: titleOf(slug), status, detail, code, ...(details ? { details } : {}) };
}

/**
 * Routes whose clients expect another error shape (the gateway's OpenAI-compatible /v1/ routes):
 * the status and the platform's body, rendered as they want it.
 */
export interface ErrorShape {
  pathPrefix: string;
  render(status: number, body: Problem): unknown;
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
    if (this.shape && path.startsWith(this.shape.pathPrefix)) res.status(status).json(this.shape.render(status, body));
    else
      res
        .status(status)
        .type(PROBLEM_CONTENT_TYPE)
        .send(JSON.stringify({ ...body, instance: path || undefined }));
  }
}

/**
 * What body-parser and other http-errors style failures say about a request (a body too large,
 * JSON that does not parse, an unsupported charset): the client's fault, with its own status.
 */
const BODY_ERRORS: Record<string, { code: string; message: (e: { message: string; limit?: number }) => string }> = {
  'entity.too.large': {
    code: 'payload_too_large',
    message: (e) => `the request body is larger than the ${e.limit ? `${e.limit} bytes` : 'limit'} this route accepts`,
  },
  'entity.parse.failed': { code: 'invalid_argument', message: (e) => `the request body is not valid JSON: ${e.message}` },
  'entity.verify.failed': { code: 'invalid_argument', message: (e) => e.message },
  'request.aborted': { code: 'invalid_argument', message: () => 'the request was aborted before its body arrived' },
  'request.size.invalid': { code: 'invalid_argument', message: () => 'the request body is not as long as its Content-Length says' },
  'encoding.unsupported': { code: 'unsupported_media_type', message: (e) => e.message },
  'charset.unsupported': { code: 'unsupported_media_type', message: (e) => e.message },
  'parameters.too.many': { code: 'payload_too_large', message: () => 'the request has too many parameters' },
};

function clientFault(exception: unknown): { status: number; body: Problem } | undefined {
  if (!exception || typeof exception !== 'object') return undefined;
  const e = exception as { status?: unknown; statusCode?: unknown; type?: unknown; message: string; limit?: number; expose?: boolean };
  const status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : undefined;
  if (!status || status < 400 || status >= 500) return undefined;
  const known = typeof e.type === 'string' ? BODY_ERRORS[e.type] : undefined;
  if (known) return { status, body: problem(status, known.code, known.message(e)) };
  return e.expose ? { status, body: problem(status, httpCode(status), e.message) } : undefined;
}

export function toHttpError(exception: unknown): { status: number; body: Problem } {
  if (exception instanceof DomainError)
    return { status: exception.status, body: problem(exception.status, exception.code, exception.message, exception.details, exception.problem) };
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const response = exception.getResponse();
    // Terminus' 503 carries the state of each dependency: operators need it as it is.
    if (typeof response === 'object' && response && 'details' in response && 'status' in response) {
      const states = (response as { details: Record<string, { status?: string }> }).details;
      const down = Object.entries(states)
        .filter(([, v]) => v?.status !== 'up')
        .map(([k]) => k);
      return { status, body: problem(status, 'unavailable', `not ready: ${down.join(', ') || 'a dependency'} down`, states, 'not-ready') };
    }
    const message =
      typeof response === 'string'
        ? response
        : Array.isArray((response as any).message)
          ? (response as any).message.join('; ')
          : String((response as any).message ?? exception.message);
    // Nest's JSON body parser reports a body that does not parse as a bare 400 with JSON.parse's words.
    if (
      status === 400 &&
      /JSON|^Unexpected (token|end|non-whitespace)|^Expected /.test(message) &&
      exception.constructor.name === 'BadRequestException' &&
      (response as { error?: string }).error === 'Bad Request'
    ) {
      return { status, body: problem(status, 'invalid_argument', `the request body is not valid JSON: ${message}`) };
    }
    return { status, body: problem(status, httpCode(status), message) };
  }
  const fault = clientFault(exception);
  if (fault) return fault;
  return { status: 500, body: problem(500, 'internal', 'internal error; see the service log') };
}

function httpCode(status: number): string {
  switch (status) {
    case 400:
      return 'invalid_argument';
    case 401:
      return 'unauthenticated';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 409:
      return 'conflict';
    case 413:
      return 'payload_too_large';
    case 415:
      return 'unsupported_media_type';
    case 431:
      return 'header_too_large';
    default:
      return status >= 500 ? 'internal' : 'http_' + status;
  }
}
