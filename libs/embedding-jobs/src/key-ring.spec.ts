import { KeyRing, SealError, keyRingSetting } from './key-ring';

const k1 = KeyRing.generateKey();
const k2 = KeyRing.generateKey();

describe('KeyRing', () => {
  it('opens what it sealed, only for the same context', () => {
    const ring = KeyRing.parse(`a:${k1}`);
    const sealed = ring.sealJson({ secret: 'key → response' }, 'pool:1');
    expect(sealed.startsWith('v1.a.')).toBe(true);
    expect(sealed).not.toContain('secret');
    expect(ring.openJson(sealed, 'pool:1')).toEqual({ secret: 'key → response' });
    expect(() => ring.open(sealed, 'pool:2')).toThrow(/tampered, or sealed for another record/);
  });

  it('rotates: the first key seals, older keys still open', () => {
    const old = KeyRing.parse(`a:${k1}`);
    const sealed = old.seal('x', 'c');
    const rotated = KeyRing.parse(`b:${k2},a:${k1}`);
    expect(rotated.currentKeyId).toBe('b');
    expect(rotated.open(sealed, 'c').toString()).toBe('x');
    expect(KeyRing.keyIdOf(rotated.seal('x', 'c'))).toBe('b');
    expect(() => KeyRing.parse(`b:${k2}`).open(sealed, 'c')).toThrow(/no longer holds/);
  });

  it('detects a flipped bit', () => {
    const ring = KeyRing.parse(`a:${k1}`);
    const sealed = ring.seal('hello', 'c');
    const raw = Buffer.from(sealed.split('.')[2], 'base64url');
    raw[raw.length - 1] ^= 1;
    expect(() => ring.open(`v1.a.${raw.toString('base64url')}`, 'c')).toThrow(SealError);
  });

  it('rejects bad rings with the reason', () => {
    expect(() => KeyRing.parse('')).toThrow(/empty/);
    expect(() => KeyRing.parse('a:c2hvcnQ=')).toThrow(/needs 32/);
    expect(() => KeyRing.parse(`a:${k1},a:${k2}`)).toThrow(/twice/);
    expect(() => KeyRing.parse(k1)).toThrow(/id:base64key/);
    const parsed = keyRingSetting.safeParse('nope');
    expect(parsed.success).toBe(false);
  });
});
