import { randomBytes } from 'node:crypto';
import { getAddress, isAddress, verifyMessage, type Hex } from 'viem';
import type { LocalAccount } from 'viem/accounts';
import { HostAuthError } from './errors';
import { bodySha256, hostAuthMessage } from './message';
import type { NonceStore } from './nonce-store';

/** HTTP header carrying base64url(JSON { address, nonce, expiresAt, signature }). */
export const HOST_AUTH_HEADER = 'x-clopen-host-auth';

const DEFAULT_TTL_SECONDS = 120;
const DEFAULT_MAX_TTL_SECONDS = 300;
// Four fields of bounded size fit well inside this; anything longer is not ours.
const MAX_HEADER_LENGTH = 1024;
const NONCE_PATTERN = /^[0-9a-f]{32}$/;
// EOA signatures only: r ‖ s ‖ v, 65 bytes.
const SIGNATURE_PATTERN = /^0x[0-9a-fA-F]{130}$/;

export interface HostRequest {
  /** The service the request is for, e.g. "distribution"; the verifier checks its own name. */
  audience: string;
  method: string;
  /** Path with the query string exactly as sent (Express: `req.originalUrl`). */
  path: string;
  /** The body bytes as sent; a string is hashed as UTF-8. */
  body?: string | Uint8Array;
}

export interface SignHostRequestOptions extends HostRequest {
  /** How long the signature is valid; default 120 s. Verifiers refuse more than their maxTtlSeconds. */
  ttlSeconds?: number;
  now?: Date;
}

export interface VerifyHostRequestOptions extends HostRequest {
  now?: Date;
  /** Refuse signatures valid for longer than this from now; default 300 s. */
  maxTtlSeconds?: number;
  nonceStore: NonceStore;
}

export interface VerifiedHost {
  address: `0x${string}`;
  nonce: string;
  expiresAt: number;
}

interface HostAuthHeader {
  address: `0x${string}`;
  nonce: string;
  expiresAt: number;
  signature: Hex;
}

function unixSeconds(now: Date): number {
  return Math.floor(now.getTime() / 1000);
}

/** Signs one request with the host's key and returns the value for the `x-clopen-host-auth` header. */
export async function signHostRequest(account: LocalAccount, options: SignHostRequestOptions): Promise<string> {
  const ttlSeconds = options.ttlSeconds ?? DEFAULT_TTL_SECONDS;
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1) {
    throw new HostAuthError('malformed', `ttlSeconds must be a whole number of seconds >= 1, got ${ttlSeconds}`);
  }
  const nonce = randomBytes(16).toString('hex');
  const expiresAt = unixSeconds(options.now ?? new Date()) + ttlSeconds;
  const message = hostAuthMessage({
    audience: options.audience,
    method: options.method,
    path: options.path,
    nonce,
    expiresAt,
    bodySha256: bodySha256(options.body),
  });
  const signature = await account.signMessage({ message });
  const header: HostAuthHeader = { address: account.address, nonce, expiresAt, signature };
  return Buffer.from(JSON.stringify(header), 'utf8').toString('base64url');
}

function malformed(what: string): HostAuthError {
  return new HostAuthError(
    'malformed',
    `${HOST_AUTH_HEADER} header is malformed: ${what}; send base64url(JSON {address, nonce, expiresAt, signature}) as made by signHostRequest`,
  );
}

function parseHeader(header: string): HostAuthHeader {
  if (header.length > MAX_HEADER_LENGTH) throw malformed(`${header.length} characters, at most ${MAX_HEADER_LENGTH} allowed`);
  if (!/^[A-Za-z0-9_-]+$/.test(header)) throw malformed('not base64url (A-Z a-z 0-9 - _, no padding)');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
  } catch {
    throw malformed('does not decode to JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw malformed('does not decode to a JSON object');
  const { address, nonce, expiresAt, signature } = parsed as Record<string, unknown>;
  if (typeof address !== 'string' || !isAddress(address, { strict: false })) throw malformed('address must be a 0x-prefixed 20-byte hex EVM address');
  if (typeof nonce !== 'string' || !NONCE_PATTERN.test(nonce)) throw malformed('nonce must be 16 random bytes as 32 lower-case hex characters');
  if (typeof expiresAt !== 'number' || !Number.isSafeInteger(expiresAt) || expiresAt < 0) throw malformed('expiresAt must be unix seconds (a whole number)');
  if (typeof signature !== 'string' || !SIGNATURE_PATTERN.test(signature)) throw malformed('signature must be a 65-byte 0x-prefixed hex EOA signature');
  return { address: address as `0x${string}`, nonce, expiresAt, signature: signature as Hex };
}

/**
 * Checks the `x-clopen-host-auth` header against the request actually received and returns the
 * host's checksummed address. The nonce is claimed only after the signature checks out, so nobody
 * but the host can burn its nonces.
 */
export async function verifyHostRequest(header: string | undefined, options: VerifyHostRequestOptions): Promise<VerifiedHost> {
  if (header === undefined || header === '') {
    throw new HostAuthError('missing', `no ${HOST_AUTH_HEADER} header; sign the request with signHostRequest and send the result in that header`);
  }
  const { address, nonce, expiresAt, signature } = parseHeader(header);

  const now = unixSeconds(options.now ?? new Date());
  const maxTtlSeconds = options.maxTtlSeconds ?? DEFAULT_MAX_TTL_SECONDS;
  if (expiresAt <= now) {
    throw new HostAuthError('expired', `host signature expired at ${expiresAt}, now is ${now}; sign each request afresh and check the host's clock`);
  }
  if (expiresAt - now > maxTtlSeconds) {
    throw new HostAuthError(
      'too_long',
      `host signature is valid for ${expiresAt - now} s, at most ${maxTtlSeconds} s is accepted; sign with a shorter ttlSeconds and check the host's clock`,
    );
  }

  const message = hostAuthMessage({
    audience: options.audience,
    method: options.method,
    path: options.path,
    nonce,
    expiresAt,
    bodySha256: bodySha256(options.body),
  });
  let valid: boolean;
  try {
    valid = await verifyMessage({ address, message, signature });
  } catch {
    // An unrecoverable signature (bad r/s/v) is just as wrong as one by another key.
    valid = false;
  }
  if (!valid) {
    throw new HostAuthError(
      'bad_signature',
      `host signature does not match ${getAddress(address)} for ${options.method.toUpperCase()} ${options.path}; sign the exact audience (${options.audience}), method, path with query and body sent, with that address's key`,
    );
  }

  const checksummed = getAddress(address);
  if (!(await options.nonceStore.claim(checksummed, nonce, expiresAt))) {
    throw new HostAuthError('replayed', `nonce ${nonce} of ${checksummed} was already used; sign every request with a fresh nonce`);
  }
  return { address: checksummed, nonce, expiresAt };
}
