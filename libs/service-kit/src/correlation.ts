import { Injectable, type NestMiddleware } from '@nestjs/common';
import { withCause } from '@clopen/bus';
import type { NextFunction, Request, Response } from 'express';

export const CORRELATION_HEADER = 'x-correlation-id';
const CORRELATION_ID = /^[A-Za-z0-9._:@-]{1,128}$/;

/**
 * A request that carries X-Correlation-Id (the CLI, the story, a partner's own trace id) is served
 * inside that correlation: every event it causes, and every event those cause in turn, carries the
 * id, so an operator can follow one user action across services. The id is echoed back.
 */
@Injectable()
export class CorrelationMiddleware implements NestMiddleware {
  use(req: Request, res: Response, next: NextFunction) {
    const id = req.headers[CORRELATION_HEADER];
    if (typeof id !== 'string' || !CORRELATION_ID.test(id)) return next();
    res.setHeader(CORRELATION_HEADER, id);
    withCause({ correlationId: id, causationId: '' }, next);
  }
}
