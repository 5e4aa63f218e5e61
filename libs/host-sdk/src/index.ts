export { PERMISSION_HEADER, issueGrant, permissionString, requestDigest, decodePermission, grantSigningBytes, userPublicKeyBytes } from './permission';
export type { GrantInit, SignedGrant, RequestBinding, DecodedPermission } from './permission';
export { PermissionVerifier } from './verifier';
export type { PermissionVerifierOptions, RevocationList, VerifiedPermission } from './verifier';
export { PermissionError } from './errors';
export type { PermissionFailure } from './errors';
export { publicKeyFromRaw, privateKeyFromSeed, rawPublicKey, generateUserKey } from './keys';
export { RevocationFeed } from './revocations';
