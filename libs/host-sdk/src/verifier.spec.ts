import { generateKeyPairSync } from 'node:crypto';
import { accessV1, fromBinary, toBinary, create } from '@clopen/proto';
import { PermissionError, type PermissionFailure } from './errors';
import { generateUserKey } from './keys';
import { PERMISSION_HEADER, issueGrant, permissionString, userPublicKeyBytes, type GrantInit } from './permission';
import { PermissionVerifier } from './verifier';

const HOST = '0x1737C8D529A6692bDFA1baaFA3106C1028F29ACc';
const OTHER_HOST = '0x37BD10843d397FdE36bD60Ceb18B13759e4898F5';
const MODEL = 'model-1';
const NOW = 1_900_000_000;
const issuer1 = generateKeyPairSync('ed25519');
const issuer2 = generateKeyPairSync('ed25519');
const user = generateUserKey();
const body = '{"prompt":"hello","max_tokens":8}';

const grantFor = (over: Partial<GrantInit> = {}, key = issuer1.privateKey) =>
  issueGrant(key, {
    id: 'g1',
    modelId: MODEL,
    userPublicKey: userPublicKeyBytes(user),
    notBefore: NOW - 10,
    expiresAt: NOW + 3600,
    issuerKeyId: 'i1',
    userId: 'dave',
    ...over,
  });

const verifier = (opts: { revoked?: Set<string> } = {}) =>
  new PermissionVerifier({
    host: HOST,
    issuerKeys: new Map([
      ['i1', issuer1.publicKey],
      ['i2', issuer2.publicKey],
    ]),
    revoked: { isRevoked: (id) => opts.revoked?.has(id) ?? false },
    counterWindow: 4,
    now: () => NOW,
  });

function refused(fn: () => unknown): PermissionFailure {
  try {
    fn();
  } catch (e) {
    if (e instanceof PermissionError) return e.reason;
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('permission strings', () => {
  it('accepts a signed request and counts it against the quota', () => {
    const v = verifier();
    const grant = grantFor({ quota: { requests: 2 } });
    const ok = v.verify(permissionString(grant, user, 1, { host: HOST, model: MODEL, body }), { model: MODEL, body });
    expect(ok).toMatchObject({ grantId: 'g1', userId: 'dave', modelId: MODEL, counter: 1n, requestsLeft: 1n, tokensLeft: null });
    expect(v.verify(permissionString(grant, user, 2, { host: HOST, model: MODEL, body }), { model: MODEL, body }).requestsLeft).toBe(0n);
    expect(refused(() => v.verify(permissionString(grant, user, 3, { host: HOST, model: MODEL, body }), { model: MODEL, body }))).toBe('over_quota');
  });

  it('refuses each bad string with its own reason and status, counting nothing', () => {
    const v = verifier({ revoked: new Set(['g-revoked']) });
    const ok = (g = grantFor(), counter = 1, b = body, host = HOST, model = MODEL) => permissionString(g, user, counter, { host, model, body: b });
    const check = (header: string | undefined, model = MODEL, b = body) => refused(() => v.verify(header, { model, body: b }));

    expect(check(undefined)).toBe('missing');
    expect(check('not base64url!')).toBe('malformed');
    expect(check(Buffer.from('garbage').toString('base64url'))).toBe('malformed');
    expect(check(ok(grantFor({}, issuer2.privateKey)))).toBe('forged'); // signed by i2 but claims i1
    expect(check(ok(grantFor({ issuerKeyId: 'unknown' })))).toBe('forged');
    expect(check(ok(grantFor({ id: 'g-nbf', notBefore: NOW + 60 })))).toBe('not_yet_valid');
    expect(check(ok(grantFor({ id: 'g-exp', expiresAt: NOW })))).toBe('expired');
    expect(check(ok(), 'model-2')).toBe('wrong_model');
    expect(check(ok(grantFor({ id: 'g-host', hosts: [OTHER_HOST] })))).toBe('wrong_host');
    expect(check(ok(grantFor({ id: 'g-revoked' })))).toBe('revoked');
    expect(check(ok(grantFor(), 1, body, OTHER_HOST))).toBe('bad_signature'); // signed for another host
    expect(check(ok(), MODEL, '{"prompt":"other"}')).toBe('bad_signature'); // body changed
    const otherUser = generateUserKey();
    expect(check(permissionString(grantFor(), otherUser, 1, { host: HOST, model: MODEL, body }))).toBe('bad_signature'); // someone else's grant

    // None of those used counter 1 of g1.
    expect(v.verify(ok(), { model: MODEL, body }).counter).toBe(1n);
    expect(check(ok())).toBe('replayed');
    expect(new PermissionError('replayed', '').status).toBe(401);
    expect(new PermissionError('wrong_host', '').status).toBe(403);
  });

  it('a tampered grant is forged even with a valid-looking signature', () => {
    const v = verifier();
    const header = permissionString(grantFor({ quota: { requests: 1 } }), user, 1, { host: HOST, model: MODEL, body });
    const msg = fromBinary(accessV1.PermissionStringSchema, Buffer.from(header, 'base64url'));
    const grant = fromBinary(accessV1.GrantSchema, msg.grant);
    grant.quota = create(accessV1.QuotaSchema, { requests: 1000n });
    msg.grant = toBinary(accessV1.GrantSchema, grant);
    const tampered = Buffer.from(toBinary(accessV1.PermissionStringSchema, msg)).toString('base64url');
    expect(refused(() => v.verify(tampered, { model: MODEL, body }))).toBe('forged');
  });

  it('accepts counters out of order within the window, never twice, never too old', () => {
    const v = verifier();
    const g = grantFor();
    const at = (c: number) => () => v.verify(permissionString(g, user, c, { host: HOST, model: MODEL, body }), { model: MODEL, body });
    at(10)();
    at(8)();
    expect(refused(at(8))).toBe('replayed');
    expect(refused(at(6))).toBe('replayed'); // 10 - 4 window
    at(7)();
    at(11)();
  });

  it('checks the issuer once per grant, and the same id with other contents is refused', () => {
    const v = verifier();
    v.verify(permissionString(grantFor(), user, 1, { host: HOST, model: MODEL, body }), { model: MODEL, body });
    expect(v.cachedGrants).toBe(1);
    const reissued = grantFor({ quota: { requests: 99 } });
    expect(refused(() => v.verify(permissionString(reissued, user, 2, { host: HOST, model: MODEL, body }), { model: MODEL, body }))).toBe('forged');
  });

  it('keeps grants of a rotated-out issuer key valid while the key is known', () => {
    const v = verifier();
    const old = grantFor({ id: 'g-old', issuerKeyId: 'i2' }, issuer2.privateKey);
    expect(v.verify(permissionString(old, user, 1, { host: HOST, model: MODEL, body }), { model: MODEL, body }).grantId).toBe('g-old');
  });

  it('counts tokens against a token quota', () => {
    const v = verifier();
    const g = grantFor({ id: 'g-tok', quota: { tokens: 100 } });
    const r = v.verify(permissionString(g, user, 1, { host: HOST, model: MODEL, body }), { model: MODEL, body });
    expect(r.tokensLeft).toBe(100n);
    v.recordTokens('g-tok', 100);
    expect(refused(() => v.verify(permissionString(g, user, 2, { host: HOST, model: MODEL, body }), { model: MODEL, body }))).toBe('over_quota');
  });

  it('forgets expired grants', () => {
    let now = NOW;
    const v = new PermissionVerifier({ host: HOST, issuerKeys: new Map([['i1', issuer1.publicKey]]), now: () => now });
    v.verify(permissionString(grantFor({ expiresAt: NOW + 5 }), user, 1, { host: HOST, model: MODEL, body }), { model: MODEL, body });
    now += 10;
    expect(v.sweepExpired()).toBe(1);
    expect(v.cachedGrants).toBe(0);
  });

  it('names the header', () => {
    expect(PERMISSION_HEADER).toBe('x-clopen-permission');
  });
});
