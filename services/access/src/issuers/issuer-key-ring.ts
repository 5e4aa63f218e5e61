import { hkdfSync, type KeyObject } from 'node:crypto';
import type { HostSessionKey } from '@clopen/host-auth';
import { privateKeyFromSeed, rawPublicKey } from '@clopen/host-sdk';

export interface IssuerKey {
  id: string;
  privateKey: KeyObject;
  publicKey: Buffer;
}

/** The access service's grant-signing keys; the first signs, all are published for hosts. */
export class IssuerKeyRing {
  private constructor(readonly keys: readonly IssuerKey[]) {}

  static parse(spec: string): IssuerKeyRing {
    const keys: IssuerKey[] = [];
    for (const entry of spec
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      const [id, seed64] = entry.split(':');
      if (!id || !/^[A-Za-z0-9_-]{1,32}$/.test(id) || !seed64) throw new Error(`issuer key entry must be id:base64seed, got "${entry.slice(0, 12)}…"`);
      const seed = Buffer.from(seed64, 'base64');
      if (seed.length !== 32) throw new Error(`issuer key "${id}" is ${seed.length} bytes; an ed25519 seed is 32 (openssl rand -base64 32)`);
      if (keys.some((k) => k.id === id)) throw new Error(`issuer key id "${id}" appears twice`);
      const privateKey = privateKeyFromSeed(seed);
      keys.push({ id, privateKey, publicKey: rawPublicKey(privateKey) });
    }
    if (!keys.length) throw new Error('no issuer key: expected "id:base64seed[,…]"');
    return new IssuerKeyRing(keys);
  }

  get current(): IssuerKey {
    return this.keys[0];
  }

  /**
   * The keys that MAC host session tokens, derived from the issuer keys (HKDF-SHA256): every replica
   * holds them already, and they rotate with the issuer keys (the first signs, the others verify).
   */
  sessionKeys(): HostSessionKey[] {
    return this.keys.map((k) => {
      const seed = Buffer.from(k.privateKey.export({ format: 'jwk' }).d as string, 'base64url');
      return { id: k.id, secret: Buffer.from(hkdfSync('sha256', seed, Buffer.alloc(0), 'clopen-host-session-v1', 32)) };
    });
  }
}
