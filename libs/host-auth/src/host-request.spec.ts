import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { HostAuthError, type HostAuthFailure } from './errors';
import { HOST_AUTH_HEADER, signHostRequest, verifyHostRequest } from './host-request';
import { bodySha256, hostAuthMessage } from './message';
import { MemoryNonceStore } from './nonce-store';

const NOW = new Date('2031-05-04T12:00:00Z');
const NOW_S = Math.floor(NOW.getTime() / 1000);
const request = { audience: 'distribution', method: 'post', path: '/v1/usage?epoch=3', body: '{"tokens":42}' };

function decode(header: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
}

function encode(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

async function rejection(promise: Promise<unknown>): Promise<HostAuthError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof HostAuthError)) throw new Error(`expected a HostAuthError, got ${String(error)}`);
  return error;
}

async function expectReason(promise: Promise<unknown>, reason: HostAuthFailure): Promise<HostAuthError> {
  const error = await rejection(promise);
  expect(error.reason).toBe(reason);
  return error;
}

describe('host request signatures', () => {
  const account = privateKeyToAccount(generatePrivateKey());
  let nonceStore: MemoryNonceStore;
  beforeEach(() => {
    nonceStore = new MemoryNonceStore(() => NOW_S);
  });

  it('names the header', () => {
    expect(HOST_AUTH_HEADER).toBe('x-clopen-host-auth');
  });

  it('verifies what the host signed and returns its checksummed address', async () => {
    const header = await signHostRequest(account, { ...request, now: NOW });
    const verified = await verifyHostRequest(header, { ...request, method: 'POST', now: NOW, nonceStore });
    expect(verified.address).toBe(account.address);
    expect(verified.expiresAt).toBe(NOW_S + 120);
    expect(verified.nonce).toMatch(/^[0-9a-f]{32}$/);
    expect(decode(header)).toEqual({
      address: account.address,
      nonce: verified.nonce,
      expiresAt: NOW_S + 120,
      signature: expect.stringMatching(/^0x[0-9a-f]{130}$/),
    });
  });

  it('verifies bodiless and binary-body requests', async () => {
    const get = { audience: 'distribution', method: 'GET', path: '/v1/licences?host=me' };
    await verifyHostRequest(await signHostRequest(account, { ...get, now: NOW }), { ...get, now: NOW, nonceStore });
    const bytes = new Uint8Array([0, 1, 2, 255]);
    const put = { audience: 'distribution', method: 'PUT', path: '/v1/blob', body: bytes };
    await verifyHostRequest(await signHostRequest(account, { ...put, now: NOW }), { ...put, body: Buffer.from(bytes), now: NOW, nonceStore });
  });

  it('accepts a lower-case address in the header', async () => {
    const header = decode(await signHostRequest(account, { ...request, now: NOW }));
    const verified = await verifyHostRequest(encode({ ...header, address: account.address.toLowerCase() }), { ...request, now: NOW, nonceStore });
    expect(verified.address).toBe(account.address);
  });

  it('signs with a fresh nonce every time', async () => {
    const a = decode(await signHostRequest(account, { ...request, now: NOW }));
    const b = decode(await signHostRequest(account, { ...request, now: NOW }));
    expect(a.nonce).not.toBe(b.nonce);
  });

  it('rejects a missing header', async () => {
    await expectReason(verifyHostRequest(undefined, { ...request, now: NOW, nonceStore }), 'missing');
    const error = await expectReason(verifyHostRequest('', { ...request, now: NOW, nonceStore }), 'missing');
    expect(error.message).toContain('signHostRequest');
  });

  it('rejects malformed headers', async () => {
    const good = decode(await signHostRequest(account, { ...request, now: NOW }));
    const malformed = [
      'not base64url!',
      Buffer.from('not json').toString('base64url'),
      encode([1, 2]),
      encode({ ...good, address: '0x1234' }),
      encode({ ...good, nonce: 'abc' }),
      encode({ ...good, expiresAt: String(good.expiresAt) }),
      encode({ ...good, expiresAt: 1.5 }),
      encode({ ...good, signature: '0xdeadbeef' }),
      encode({ ...good, signature: undefined }),
      'A'.repeat(5000),
    ];
    for (const header of malformed) {
      const error = await expectReason(verifyHostRequest(header, { ...request, now: NOW, nonceStore }), 'malformed');
      expect(error.message).toContain('x-clopen-host-auth header is malformed');
    }
  });

  it('rejects an expired signature', async () => {
    const header = await signHostRequest(account, { ...request, ttlSeconds: 60, now: NOW });
    const later = new Date(NOW.getTime() + 60_000);
    const error = await expectReason(verifyHostRequest(header, { ...request, now: later, nonceStore }), 'expired');
    expect(error.message).toContain(`expired at ${NOW_S + 60}`);
  });

  it('rejects a signature valid for longer than the verifier allows', async () => {
    const header = await signHostRequest(account, { ...request, ttlSeconds: 301, now: NOW });
    await expectReason(verifyHostRequest(header, { ...request, now: NOW, nonceStore }), 'too_long');
    const shorter = await signHostRequest(account, { ...request, ttlSeconds: 61, now: NOW });
    await expectReason(verifyHostRequest(shorter, { ...request, now: NOW, maxTtlSeconds: 60, nonceStore }), 'too_long');
    await verifyHostRequest(await signHostRequest(account, { ...request, ttlSeconds: 300, now: NOW }), { ...request, now: NOW, nonceStore });
  });

  it('rejects a tampered method, path, query or body, and a request meant for another service', async () => {
    const header = await signHostRequest(account, { ...request, now: NOW });
    const tampered = [
      { ...request, audience: 'access' },
      { ...request, method: 'PUT' },
      { ...request, path: '/v1/usage' },
      { ...request, path: '/v1/usage?epoch=4' },
      { ...request, body: '{"tokens":43}' },
      { ...request, body: undefined },
    ];
    for (const received of tampered) {
      await expectReason(verifyHostRequest(header, { ...received, now: NOW, nonceStore }), 'bad_signature');
    }
    // None of the failed attempts burned the nonce: the genuine request still goes through.
    await verifyHostRequest(header, { ...request, now: NOW, nonceStore });
  });

  it('rejects a header claiming another address, a changed expiry and an unrecoverable signature', async () => {
    const good = decode(await signHostRequest(account, { ...request, now: NOW }));
    const other = privateKeyToAccount(generatePrivateKey());
    const error = await expectReason(verifyHostRequest(encode({ ...good, address: other.address }), { ...request, now: NOW, nonceStore }), 'bad_signature');
    expect(error.message).toContain(other.address);
    await expectReason(verifyHostRequest(encode({ ...good, expiresAt: NOW_S + 200 }), { ...request, now: NOW, nonceStore }), 'bad_signature');
    await expectReason(verifyHostRequest(encode({ ...good, signature: `0x${'ff'.repeat(65)}` }), { ...request, now: NOW, nonceStore }), 'bad_signature');
  });

  it('rejects a replayed header', async () => {
    const header = await signHostRequest(account, { ...request, now: NOW });
    await verifyHostRequest(header, { ...request, now: NOW, nonceStore });
    const error = await expectReason(verifyHostRequest(header, { ...request, now: NOW, nonceStore }), 'replayed');
    expect(error.message).toContain('fresh nonce');
  });

  it('refuses a ttl that is not a positive whole number of seconds', async () => {
    await expectReason(signHostRequest(account, { ...request, ttlSeconds: 0 }), 'malformed');
    await expectReason(signHostRequest(account, { ...request, ttlSeconds: 1.5 }), 'malformed');
  });
});

describe('hostAuthMessage', () => {
  it('is the documented text', () => {
    const message = hostAuthMessage({
      audience: 'distribution',
      method: 'post',
      path: '/v1/usage?epoch=3',
      nonce: '00112233445566778899aabbccddeeff',
      expiresAt: 1_900_000_000,
      bodySha256: bodySha256(),
    });
    expect(message).toBe(
      [
        'Clopen host request',
        'audience: distribution',
        'method: POST',
        'path: /v1/usage?epoch=3',
        'body-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
        'nonce: 00112233445566778899aabbccddeeff',
        'expires-at: 1900000000',
      ].join('\n'),
    );
  });

  it('refuses a field with a line break', () => {
    expect(() =>
      hostAuthMessage({ audience: 'distribution', method: 'GET', path: '/a\nmethod: PUT', nonce: 'n', expiresAt: 1, bodySha256: bodySha256() }),
    ).toThrow(HostAuthError);
  });
});
