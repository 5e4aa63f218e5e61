export { HOST_AUTH_HEADER, signHostRequest, verifyHostRequest } from './host-request';
export type { HostRequest, SignHostRequestOptions, VerifyHostRequestOptions, VerifiedHost } from './host-request';
export { hostAuthMessage, bodySha256 } from './message';
export type { HostAuthMessageInput } from './message';
export { RedisNonceStore, MemoryNonceStore } from './nonce-store';
export type { NonceStore } from './nonce-store';
export { HostAuthError } from './errors';
export type { HostAuthFailure } from './errors';
