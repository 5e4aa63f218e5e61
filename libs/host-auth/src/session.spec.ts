import { randomBytes } from 'node:crypto';
import { HostAuthError } from './errors';
import { HostSessions } from './session';

const HOST = '0x1737C8D529A6692bDFA1baaFA3106C1028F29ACc';
const key = (id: string) => ({ id, secret: randomBytes(32) });

describe('HostSessions', () => {
  const k1 = key('k1');
  const sessions = new HostSessions('access', [k1], 900);
  const reason = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return (e as HostAuthError).reason;
    }
    return 'accepted';
  };

  it('issues a token naming the host that verifies until it expires', () => {
    const now = new Date('2026-12-03T12:00:00Z');
    const s = sessions.issue(HOST.toLowerCase(), now);
    expect(s.address).toBe(HOST);
    expect(sessions.verify(s.token, new Date(now.getTime() + 899_000)).address).toBe(HOST);
    expect(reason(() => sessions.verify(s.token, new Date(now.getTime() + 900_000)))).toBe('expired');
  });

  it('refuses a token of another audience, another key, or altered claims', () => {
    const s = sessions.issue(HOST);
    expect(reason(() => new HostSessions('distribution', [k1], 900).verify(s.token))).toBe('malformed');
    expect(reason(() => new HostSessions('access', [key('k1')], 900).verify(s.token))).toBe('bad_signature');
    const [v, id, , mac] = s.token.split('.');
    const forged = Buffer.from(JSON.stringify({ a: '0x000000000000000000000000000000000000dEaD', aud: 'access', exp: s.expiresAt })).toString('base64url');
    expect(reason(() => sessions.verify([v, id, forged, mac].join('.')))).toBe('bad_signature');
    expect(reason(() => sessions.verify('x'.repeat(600)))).toBe('malformed');
    expect(reason(() => sessions.verify(undefined))).toBe('missing');
  });

  it('keeps verifying tokens of a retired signing key listed after the new one', () => {
    const old = sessions.issue(HOST);
    const rotated = new HostSessions('access', [key('k2'), k1], 900);
    expect(rotated.verify(old.token).address).toBe(HOST);
    expect(rotated.issue(HOST).token.startsWith('v1.k2.')).toBe(true);
  });
});
