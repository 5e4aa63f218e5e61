import { createHash } from 'node:crypto';
import { HostAuthError } from './errors';

export interface HostAuthMessageInput {
  /** The service the request is for (e.g. "distribution"), so a signature made for one cannot be replayed at another. */
  audience: string;
  method: string;
  /** Path with the query string exactly as sent on the wire, e.g. `/v1/usage?epoch=3`. */
  path: string;
  /** 16 random bytes, lower-case hex. */
  nonce: string;
  /** Unix seconds. */
  expiresAt: number;
  /** Lower-case hex sha256 of the request body bytes. */
  bodySha256: string;
}

/** sha256 of the body as sent (a string is hashed as UTF-8); no body hashes the empty string. */
export function bodySha256(body?: string | Uint8Array): string {
  return createHash('sha256')
    .update(body ?? '')
    .digest('hex');
}

/**
 * The exact text a host signs (EIP-191 personal message). Every line is `name: value`, joined by
 * `\n` with no trailing newline; the README spells it out for SDKs in other languages.
 */
export function hostAuthMessage({ audience, method, path, nonce, expiresAt, bodySha256 }: HostAuthMessageInput): string {
  // A newline inside a field would let one request's text pass for another's.
  for (const [name, value] of Object.entries({ audience, method, path, nonce, bodySha256 })) {
    if (/[\r\n]/.test(value)) {
      throw new HostAuthError('malformed', `host auth ${name} must not contain a line break, got ${JSON.stringify(value)}`);
    }
  }
  return [
    'Clopen host request',
    `audience: ${audience}`,
    `method: ${method.toUpperCase()}`,
    `path: ${path}`,
    `body-sha256: ${bodySha256}`,
    `nonce: ${nonce}`,
    `expires-at: ${expiresAt}`,
  ].join('\n');
}
