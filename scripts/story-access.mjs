// Dave's part of the story, as far as it is built: he buys a grant from the access service, signs
// each request with his own key, and Bob's host checks the permission strings with the host SDK.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export async function accessStory({ info, call, admin, access, modelId, bob, charlie }) {
  const { PermissionVerifier, generateUserKey, permissionString, publicKeyFromRaw, userPublicKeyBytes } = require('@clopen/host-sdk');
  const daveKey = (await call(access, admin, 'POST', '/api-keys', { principalId: 'dave', roles: ['user'], label: 'npm start' })).body.key;
  const dave = generateUserKey();
  const bought = await call(access, daveKey, 'POST', '/grants', { modelId, userPublicKey: userPublicKeyBytes(dave).toString('base64url'), quota: { requests: 1000 }, days: 30 });
  if (bought.status !== 201) throw new Error(`grant: ${bought.status} ${JSON.stringify(bought.body)}`);
  const grant = bought.body;
  info(`Dave buys access to alice-gpt: grant ${grant.id.slice(0, 8)}… for 1000 requests, bound to his own ed25519 key, signed by issuer key ${grant.issuerKeyId} (event access.grant.issued)`);

  const issuers = (await call(access, undefined, 'GET', '/issuers')).body;
  const hostOf = (address) => new PermissionVerifier({ host: address, issuerKeys: new Map(issuers.map((i) => [i.keyId, publicKeyFromRaw(Buffer.from(i.publicKey, 'base64url'))])) });
  const bobHost = hostOf(bob);
  const signed = { bytes: Buffer.from(grant.grant, 'base64url'), issuerSignature: Buffer.from(grant.issuerSignature, 'base64url') };
  const body = JSON.stringify({ model: 'alice-gpt', prompt: 'A closed-open model is', max_tokens: 16 });
  const header = permissionString(signed, dave, 1, { host: bob, model: modelId, body });
  const check = (host, h) => {
    try {
      const ok = host.verify(h, { model: modelId, body });
      return `accepted (${ok.requestsLeft} requests left)`;
    } catch (e) {
      return `refused: ${e.reason} (HTTP ${e.status})`;
    }
  };
  info(`Dave sends a request to Bob's host with a permission string (${header.length} characters): ${check(bobHost, header)}`);
  info(`the same string again: ${check(bobHost, header)}`);
  info(`Dave's string for Bob, sent to Charlie's host: ${check(hostOf(charlie), header)}`);
}
