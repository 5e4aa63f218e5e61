import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { z } from 'zod';

/**
 * AES-256-GCM sealing with a ring of named keys: the first key seals, every key opens, so keys
 * rotate by putting a new one first, re-sealing what is stored, then dropping the old one.
 *
 * A sealed value is `v1.<keyId>.<base64url(iv ‖ tag ‖ ciphertext)>`. The caller's `context` (e.g.
 * "pool:<id>") is bound as associated data: a ciphertext copied onto another row does not open.
 */

const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

export class SealError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SealError';
  }
}

export class KeyRing {
  private constructor(
    private readonly keys: ReadonlyMap<string, Buffer>,
    readonly currentKeyId: string,
  ) {}

  /** `id:base64key[,id:base64key…]`, each key 32 bytes; the first one seals. */
  static parse(spec: string): KeyRing {
    const keys = new Map<string, Buffer>();
    const entries = spec
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (!entries.length) throw new SealError('key ring is empty: expected "id:base64key[,id:base64key…]"');
    for (const entry of entries) {
      const colon = entry.indexOf(':');
      const id = entry.slice(0, colon);
      if (colon < 0 || !KEY_ID.test(id))
        throw new SealError(`key ring entry "${entry.slice(0, 12)}…" must be id:base64key with an id of letters, digits, _ or -`);
      const key = Buffer.from(entry.slice(colon + 1), 'base64');
      if (key.length !== 32) throw new SealError(`key "${id}" is ${key.length} bytes; AES-256 needs 32 (generate one with: openssl rand -base64 32)`);
      if (keys.has(id)) throw new SealError(`key id "${id}" appears twice in the key ring`);
      keys.set(id, key);
    }
    return new KeyRing(keys, entries[0].slice(0, entries[0].indexOf(':')));
  }

  static generateKey(): string {
    return randomBytes(32).toString('base64');
  }

  seal(plaintext: Buffer | string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.currentKeyId)!, iv);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return `v1.${this.currentKeyId}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
  }

  open(sealed: string, context: string): Buffer {
    const [version, keyId, data] = sealed.split('.');
    if (version !== 'v1' || !keyId || data === undefined) throw new SealError('not a sealed value (expected v1.<keyId>.<data>)');
    const key = this.keys.get(keyId);
    if (!key) throw new SealError(`sealed with key "${keyId}", which the key ring no longer holds; add it back (after the current key) to open it`);
    const raw = Buffer.from(data, 'base64url');
    if (raw.length < IV_BYTES + TAG_BYTES) throw new SealError('sealed value is truncated');
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
    } catch {
      throw new SealError(`sealed value does not open under key "${keyId}" for ${context}: tampered, or sealed for another record`);
    }
  }

  /** The key a sealed value was sealed with; re-seal it when this is not `currentKeyId`. */
  static keyIdOf(sealed: string): string {
    return sealed.split('.')[1] ?? '';
  }

  sealJson(value: unknown, context: string): string {
    return this.seal(JSON.stringify(value), context);
  }

  openJson<T>(sealed: string, context: string): T {
    return JSON.parse(this.open(sealed, context).toString('utf8')) as T;
  }
}

/** A key-ring setting for libs/config: a bad ring stops the service at start with the reason. */
export const keyRingSetting = z.string().transform((spec, ctx) => {
  try {
    return KeyRing.parse(spec);
  } catch (e) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: (e as Error).message });
    return z.NEVER;
  }
});
