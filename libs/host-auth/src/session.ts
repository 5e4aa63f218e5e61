import { createHmac, timingSafeEqual } from 'node:crypto';
import { getAddress, isAddress } from 'viem';
import { HostAuthError } from './errors';

/** HTTP header carrying a host session token (HostSessions.issue), on routes that take one instead of a signature. */
export const HOST_SESSION_HEADER = 'x-clopen-host-session';

const MAX_TOKEN_LENGTH = 512;
const TOKEN = /^v1\.([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43})$/;

export interface HostSessionKey {
  id: string;
  /** 32 secret bytes, shared by every replica of the service that verifies. */
  secret: Buffer;
}

export interface HostSession {
  token: string;
  address: `0x${string}`;
  /** Unix seconds. */
  expiresAt: number;
}

/**
 * Short-lived bearer tokens for a host's frequent calls (a gateway's quota leases, its licence
 * polls): the host proves its EVM key once with a signed request (@clopen/host-auth) and gets a
 * token naming its address, the audience and an expiry, MACed with a key of the service. Checking
 * one is an HMAC (microseconds) instead of recovering a secp256k1 signature (milliseconds) and
 * claiming a nonce. A token is a bearer credential for the routes that accept it (never key
 * registration): send it over TLS only, and it expires within `ttlSeconds`. The first key signs;
 * the others still verify, so a key rotates by adding the new one first.
 */
export class HostSessions {
  constructor(
    private readonly audience: string,
    private readonly keys: readonly HostSessionKey[],
    readonly ttlSeconds: number,
  ) {
    if (!keys.length) throw new Error('HostSessions needs at least one key');
    for (const k of keys) if (k.secret.length < 32) throw new Error(`host session key "${k.id}" has ${k.secret.length} bytes; at least 32`);
  }

  issue(address: string, now = new Date()): HostSession {
    const expiresAt = Math.floor(now.getTime() / 1000) + this.ttlSeconds;
    const key = this.keys[0];
    const claims = Buffer.from(JSON.stringify({ a: getAddress(address), aud: this.audience, exp: expiresAt })).toString('base64url');
    const token = `v1.${key.id}.${claims}.${mac(key.secret, key.id, claims)}`;
    return { token, address: getAddress(address), expiresAt };
  }

  verify(token: string | undefined, now = new Date()): HostSession {
    if (!token) throw new HostAuthError('missing', `no ${HOST_SESSION_HEADER} header; get a token with POST /hosts/sessions`);
    const m = token.length <= MAX_TOKEN_LENGTH ? TOKEN.exec(token) : null;
    if (!m)
      throw new HostAuthError('malformed', `${HOST_SESSION_HEADER} is not a host session token (v1.<key id>.<claims>.<mac>) as POST /hosts/sessions gives`);
    const [, keyId, claims, tag] = m;
    const key = this.keys.find((k) => k.id === keyId);
    const expected = key ? Buffer.from(mac(key.secret, keyId, claims), 'base64url') : undefined;
    if (!expected || !timingSafeEqual(expected, Buffer.from(tag, 'base64url'))) {
      throw new HostAuthError(
        'bad_signature',
        `the host session token was not issued by this ${this.audience} service (or its key was retired); get a new one with POST /hosts/sessions`,
      );
    }
    let parsed: { a?: unknown; aud?: unknown; exp?: unknown };
    try {
      parsed = JSON.parse(Buffer.from(claims, 'base64url').toString('utf8'));
    } catch {
      throw new HostAuthError('malformed', "the host session token's claims do not decode");
    }
    const { a, aud, exp } = parsed;
    if (aud !== this.audience) throw new HostAuthError('malformed', `the host session token is for audience "${String(aud)}", not "${this.audience}"`);
    if (typeof a !== 'string' || !isAddress(a) || typeof exp !== 'number' || !Number.isSafeInteger(exp))
      throw new HostAuthError('malformed', 'the host session token names no address or expiry');
    if (exp <= Math.floor(now.getTime() / 1000))
      throw new HostAuthError('expired', `the host session token expired at ${exp}; get a new one with POST /hosts/sessions before it does`);
    return { token, address: getAddress(a), expiresAt: exp };
  }
}

function mac(secret: Buffer, keyId: string, claims: string): string {
  return createHmac('sha256', secret).update(`clopen-host-session-v1\n${keyId}\n${claims}`).digest('base64url');
}
