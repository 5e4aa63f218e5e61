import { sign, type KeyObject } from 'node:crypto';
import { signHostRequest } from '@clopen/host-auth';
import { generateUserKey, rawPublicKey, receiptBody, requestDigest, signReceiptBatch, userPublicKeyBytes } from '@clopen/host-sdk';
import type { accessV1 } from '@clopen/proto';
import type { Bus } from '@clopen/bus';
import { TEST_ADMIN_KEY, api, eventually, licenseHost, type TestLicence } from '@clopen/testing';

import { generatePrivateKey, privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts';

export interface ReceiptLoad {
  host: PrivateKeyAccount;
  licence: TestLicence;
  servingKey: KeyObject;
  modelId: string;
  grantIds: string[];
  /** `total` receipts (counters 1.. per grant, round robin over the grants) in batches the host signed, dated now or `servedAt`. */
  batches(total: number, batchSize: number, servedAt?: Date): accessV1.UsageReported[];
}

/**
 * A licensed host with a registered serving key and a user with `grants` grants on a model,
 * against a running access service (the licence published on `bus` as distribution would): the
 * receipt load of the kill -9 test and of bench:access.
 */
export interface ReceiptLoadOptions {
  /** The hosts the grants name (default: none, so any licensed host). */
  grantHosts?: string[];
  /** The model the host is licensed for and registers its key for (default: the load's model). */
  licensedFor?: string;
}

export async function prepareReceiptLoad(accessUrl: string, bus: Bus, modelId: string, grants = 10, options: ReceiptLoadOptions = {}): Promise<ReceiptLoad> {
  const user = generateUserKey();
  const host = privateKeyToAccount(generatePrivateKey());
  const servingKey = generateUserKey();
  const key = (await api(accessUrl, TEST_ADMIN_KEY, 'POST', '/api-keys', { principalId: `load-${Date.now()}`, roles: ['user'] })).body.key;
  const grantIds: string[] = [];
  for (let i = 0; i < grants; i += 1) {
    const res = await api(accessUrl, key, 'POST', '/grants', {
      modelId,
      userPublicKey: userPublicKeyBytes(user).toString('base64url'),
      quota: { requests: 1_000_000 },
      days: 30,
      ...(options.grantHosts ? { hosts: options.grantHosts } : {}),
    });
    if (res.status !== 201) throw new Error(`buying a grant: ${res.status} ${JSON.stringify(res.body)}`);
    grantIds.push(res.body.id);
  }
  const licensedFor = options.licensedFor ?? modelId;
  const licence = await licenseHost(bus, host.address, licensedFor);
  const path = '/hosts/serving-keys';
  const body = JSON.stringify({ keyId: 'load', publicKey: rawPublicKey(servingKey).toString('base64url'), modelId: licensedFor });
  // 403 until access has consumed the licence.
  await eventually(
    async () => {
      const auth = await signHostRequest(host, { audience: 'access', method: 'POST', path, body });
      const registered = await fetch(`${accessUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-clopen-host-auth': auth },
        body,
      });
      if (registered.status !== 201 && registered.status !== 403) throw new Error(`registering the serving key: ${registered.status}`);
      return registered.status === 201;
    },
    { timeoutMs: 15_000, what: 'the load host licensed and its serving key registered' },
  );

  return {
    host,
    licence,
    servingKey,
    modelId,
    grantIds,
    batches(total, batchSize, servedAt) {
      const out: accessV1.UsageReported[] = [];
      let bodies: accessV1.UsageReceipt[] = [];
      for (let i = 0; i < total; i += 1) {
        const grantId = grantIds[i % grantIds.length];
        const counter = BigInt(Math.floor(i / grantIds.length) + 1);
        const requestBody = `{"prompt":"request ${i}","max_tokens":16}`;
        const userSignature = sign(null, requestDigest(grantId, counter, { host: host.address, model: modelId, body: requestBody }), user);
        const b = receiptBody(host.address, {
          permission: { grantId, counter, modelId, userSignature },
          requestBody,
          responseBody: `answer ${i}`,
          tokensIn: 6,
          tokensOut: 16,
          ...(servedAt ? { servedAt } : {}),
        });
        bodies.push({ body: b, hostKeyId: 'load', hostSignature: new Uint8Array() } as accessV1.UsageReceipt);
        if (bodies.length === batchSize || i === total - 1) {
          out.push(signReceiptBatch(servingKey, 'load', host.address, bodies));
          bodies = [];
        }
      }
      return out;
    },
  };
}
