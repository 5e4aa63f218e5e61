import { createHash, sign, type KeyObject } from 'node:crypto';
import { accessV1, create, fromBinary, toBinary } from '@clopen/proto';
import { PermissionError } from './errors';
import { rawPublicKey } from './keys';

/** The HTTP header that carries a permission string with each inference request. */
export const PERMISSION_HEADER = 'x-clopen-permission';

const GRANT_CONTEXT = Buffer.from('clopen-grant-v1\n');
// A permission string is a grant (~200 bytes) and two signatures; anything much longer is not one.
const MAX_HEADER_LENGTH = 4096;

export interface GrantInit {
  id: string;
  modelId: string;
  hosts?: string[];
  userPublicKey: Uint8Array;
  quota?: { requests?: number; tokens?: number };
  notBefore: number;
  expiresAt: number;
  issuerKeyId: string;
  userId?: string;
}

/** A grant as the issuer signed it: the exact bytes and the signature travel together. */
export interface SignedGrant {
  bytes: Uint8Array;
  issuerSignature: Uint8Array;
}

/** What the issuer signs: a fixed context, then the serialized grant. */
export function grantSigningBytes(grantBytes: Uint8Array): Buffer {
  return Buffer.concat([GRANT_CONTEXT, grantBytes]);
}

/** Issues a grant (the access service does this; tests and tools too). */
export function issueGrant(issuerKey: KeyObject, init: GrantInit): SignedGrant {
  const bytes = toBinary(
    accessV1.GrantSchema,
    create(accessV1.GrantSchema, {
      id: init.id,
      modelId: init.modelId,
      hosts: init.hosts ?? [],
      userPublicKey: init.userPublicKey,
      quota: { requests: BigInt(init.quota?.requests ?? 0), tokens: BigInt(init.quota?.tokens ?? 0) },
      notBefore: BigInt(init.notBefore),
      expiresAt: BigInt(init.expiresAt),
      issuerKeyId: init.issuerKeyId,
      userId: init.userId ?? '',
    }),
  );
  return { bytes, issuerSignature: sign(null, grantSigningBytes(bytes), issuerKey) };
}

export interface RequestBinding {
  /** The host the request is sent to (EVM address; compared case-insensitively). */
  host: string;
  /** The model asked for. */
  model: string;
  /** The request body as sent. */
  body: string | Uint8Array;
}

/**
 * The 32 bytes a user signs for one request: the grant, the counter, the host, the model and the
 * body's hash. Changing any of them, or sending the string to another host, breaks the signature.
 */
export function requestDigest(grantId: string, counter: bigint, { host, model, body }: RequestBinding): Buffer {
  return requestDigestOfHash(grantId, counter, host, model, createHash('sha256').update(body).digest());
}

/** The same digest from the body's sha256, as a usage receipt carries it. */
export function requestDigestOfHash(grantId: string, counter: bigint, host: string, model: string, bodySha256: Uint8Array): Buffer {
  return createHash('sha256')
    .update(requestDigestText(grantId, String(counter), host.toLowerCase(), model, Buffer.from(bodySha256).toString('hex')))
    .digest();
}

/** The text whose sha256 the user signs (docs/partners.md shows it from here): the host in lower case, the body's sha256 in hex. */
export function requestDigestText(grantId: string, counter: string, hostLowerCase: string, model: string, bodySha256Hex: string): string {
  return `clopen-request-v1\n${grantId}\n${counter}\n${hostLowerCase}\n${model}\n${bodySha256Hex}`;
}

/** The header value for one request, signed with the user's key. */
export function permissionString(grant: SignedGrant, userKey: KeyObject, counter: bigint | number, request: RequestBinding): string {
  const parsed = fromBinary(accessV1.GrantSchema, grant.bytes);
  const c = BigInt(counter);
  const userSignature = sign(null, requestDigest(parsed.id, c, request), userKey);
  return Buffer.from(
    toBinary(
      accessV1.PermissionStringSchema,
      create(accessV1.PermissionStringSchema, { grant: grant.bytes, issuerSignature: grant.issuerSignature, counter: c, userSignature }),
    ),
  ).toString('base64url');
}

/** The user's half of a key pair as a grant carries it. */
export function userPublicKeyBytes(userKey: KeyObject): Buffer {
  return rawPublicKey(userKey);
}

export interface DecodedPermission {
  message: accessV1.PermissionString;
  grant: accessV1.Grant;
}

export function decodePermission(header: string | undefined): DecodedPermission {
  if (header === undefined || header === '')
    throw new PermissionError('missing', `no ${PERMISSION_HEADER} header: send the permission string of your grant with every request`);
  if (header.length > MAX_HEADER_LENGTH || !/^[A-Za-z0-9_-]+$/.test(header))
    throw new PermissionError('malformed', `${PERMISSION_HEADER} must be base64url of a PermissionString (at most ${MAX_HEADER_LENGTH} characters)`);
  let message: accessV1.PermissionString;
  let grant: accessV1.Grant;
  try {
    message = fromBinary(accessV1.PermissionStringSchema, Buffer.from(header, 'base64url'));
    grant = fromBinary(accessV1.GrantSchema, message.grant);
  } catch (e) {
    throw new PermissionError('malformed', `${PERMISSION_HEADER} does not decode: ${(e as Error).message}`);
  }
  if (!grant.id || grant.userPublicKey.length !== 32 || message.issuerSignature.length !== 64 || message.userSignature.length !== 64) {
    throw new PermissionError('malformed', `${PERMISSION_HEADER} lacks a grant id, a 32-byte user key or 64-byte signatures`);
  }
  return { message, grant };
}
