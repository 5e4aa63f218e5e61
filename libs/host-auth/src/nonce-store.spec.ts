import Redis from 'ioredis';
import { createTestRedisPrefix, testInfra } from '@clopen/testing';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { HostAuthError } from './errors';
import { signHostRequest, verifyHostRequest } from './host-request';
import { MemoryNonceStore, RedisNonceStore } from './nonce-store';

const address = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
const nonce = '00112233445566778899aabbccddeeff';

describe('MemoryNonceStore', () => {
  it('claims a nonce once per address and forgets it after expiry', async () => {
    let now = 1_000;
    const store = new MemoryNonceStore(() => now);
    expect(await store.claim(address, nonce, 1_060)).toBe(true);
    expect(await store.claim(address, nonce, 1_060)).toBe(false);
    expect(await store.claim('0x0000000000000000000000000000000000000001', nonce, 1_060)).toBe(true);
    now = 1_061;
    expect(await store.claim(address, nonce, 1_120)).toBe(true);
  });
});

describe('RedisNonceStore (real Redis)', () => {
  let redis: Redis;
  let prefix: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ prefix, cleanup } = await createTestRedisPrefix());
    redis = new Redis(testInfra.redisUrl, { maxRetriesPerRequest: 1 });
  });

  afterAll(async () => {
    await cleanup();
    redis.disconnect();
  });

  it('claims a nonce once, in a key that expires a second after the signature', async () => {
    const store = new RedisNonceStore(redis, prefix);
    const expiresAt = Math.floor(Date.now() / 1000) + 120;
    expect(await store.claim(address, nonce, expiresAt)).toBe(true);
    expect(await store.claim(address, nonce, expiresAt)).toBe(false);
    const key = `${prefix}${address}:${nonce}`;
    expect(await redis.get(key)).toBe('1');
    const ttl = await redis.ttl(key);
    expect(ttl).toBeGreaterThan(115);
    expect(ttl).toBeLessThanOrEqual(121);
  });

  it('rejects a replay across two verifiers sharing Redis', async () => {
    const account = privateKeyToAccount(generatePrivateKey());
    const request = { audience: 'distribution', method: 'POST', path: '/v1/usage', body: '{}' };
    const header = await signHostRequest(account, request);
    const verified = await verifyHostRequest(header, { ...request, nonceStore: new RedisNonceStore(redis, prefix) });
    expect(verified.address).toBe(account.address);
    const replay = verifyHostRequest(header, { ...request, nonceStore: new RedisNonceStore(redis, prefix) });
    await expect(replay).rejects.toBeInstanceOf(HostAuthError);
    await expect(replay).rejects.toMatchObject({ reason: 'replayed' });
  });
});
