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

/** Maps DomainError and Nest's HttpException to one JSON error shape; hides internals of anything else. */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('ErrorFilter');

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
    res.status(status).json(body);
  }
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
    return { status, body: { error: httpCode(status), message } };
  }
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
    default: return status >= 500 ? 'internal' : 'http_' + status;
  }
}
