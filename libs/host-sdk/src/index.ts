export {
  PERMISSION_HEADER,
  issueGrant,
  permissionString,
  requestDigest,
  requestDigestOfHash,
  requestDigestText,
  decodePermission,
  grantSigningBytes,
  userPublicKeyBytes,
} from './permission';
export type { GrantInit, SignedGrant, RequestBinding, DecodedPermission } from './permission';
export { PermissionVerifier } from './verifier';
export type { PermissionVerifierOptions, RevocationList, VerifiedPermission } from './verifier';
export { PermissionError } from './errors';
export type { PermissionFailure } from './errors';
export { publicKeyFromRaw, privateKeyFromSeed, rawPublicKey, generateUserKey } from './keys';
export { RevocationFeed } from './revocations';
export { RejectionFeed, type RejectionFeedOptions, type UsageRejection } from './rejection-feed';
export { signReceipt, receiptBody, receiptSigningBytes, signReceiptBatch, batchSigningBytes, batchBodyHashes } from './receipts';
export { ReceiptPublisher, type ReceiptPublisherOptions } from './receipt-publisher';
export type { ServedRequest } from './receipts';
export { verifyEd25519, Ed25519VerifyPool, type SignedMessage } from './ed25519';
export { completionText } from './completion-text';
export { REJECTION_REASONS, type RejectionReason } from './rejections';
