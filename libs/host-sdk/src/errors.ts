export type PermissionFailure =
  'missing' | 'malformed' | 'forged' | 'bad_signature' | 'not_yet_valid' | 'expired' | 'replayed' | 'revoked' | 'wrong_host' | 'wrong_model' | 'over_quota';

/** 401: the string does not prove who the user is; 403: it does, but this request is not allowed. */
const STATUS: Record<PermissionFailure, 401 | 403> = {
  missing: 401,
  malformed: 401,
  forged: 401,
  bad_signature: 401,
  not_yet_valid: 401,
  expired: 401,
  replayed: 401,
  revoked: 403,
  wrong_host: 403,
  wrong_model: 403,
  over_quota: 403,
};

/** A permission string was refused; nothing may be served or counted. `reason` is stable for callers. */
export class PermissionError extends Error {
  readonly status: 401 | 403;
  constructor(
    readonly reason: PermissionFailure,
    message: string,
  ) {
    super(message);
    this.name = 'PermissionError';
    this.status = STATUS[reason];
  }
}
