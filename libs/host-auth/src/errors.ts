export type HostAuthFailure = 'missing' | 'malformed' | 'expired' | 'too_long' | 'bad_signature' | 'replayed';

/**
 * A host request failed authentication. `reason` is stable for callers to branch on (every reason
 * maps to HTTP 401); the message says what was wrong and what the host should do.
 */
export class HostAuthError extends Error {
  constructor(
    readonly reason: HostAuthFailure,
    message: string,
  ) {
    super(message);
    this.name = 'HostAuthError';
  }
}
