/** A request failed: the responder answered with a busV1.Error, nobody answered, or it timed out. */
export class BusRequestError extends Error {
  override readonly name = 'BusRequestError';
  constructor(
    /** Stable code, e.g. "not_found", "invalid_argument", "internal", "timeout", "unavailable". */
    readonly code: string,
    message: string,
    readonly subject?: string,
  ) {
    super(message);
  }
}

/** Bytes on the bus are not an envelope of a known subject. */
export class EnvelopeDecodeError extends Error {
  override readonly name = 'EnvelopeDecodeError';
}

// Domain errors pass their code through to the requester; lower_snake only, so that SQLSTATEs
// ("23505") and Node system codes ("ECONNREFUSED") stay internal.
const ERROR_CODE = /^[a-z][a-z0-9_]*$/;

/** The code and message sent back for an error thrown by a request handler. */
export function errorReply(err: unknown): { code: string; message: string } {
  if (typeof err === 'object' && err !== null) {
    const { code, message } = err as { code?: unknown; message?: unknown };
    const text = typeof message === 'string' ? message : 'internal error';
    if (typeof code === 'string' && ERROR_CODE.test(code)) return { code, message: text };
    return { code: 'internal', message: text };
  }
  return { code: 'internal', message: typeof err === 'string' ? err : 'internal error' };
}
