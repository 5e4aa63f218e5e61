import { Injectable, Logger } from '@nestjs/common';
import { In, type EntityManager } from 'typeorm';
import { Outbox } from '@clopen/bus';
import { receiptSigningBytes, requestDigestOfHash, verifyEd25519 } from '@clopen/host-sdk';
import { accessV1, fromBinary, toBinary } from '@clopen/proto';
import { Grant } from '../grants/grant.entity';
import { ServingKey } from '../hosts/serving-key.entity';
import { UsageReceiptRecord } from './usage-receipt.entity';

/** Clocks differ; a receipt served further in the future than this is refused. */
const MAX_CLOCK_SKEW_MS = 60_000;

type Rejection = { grantId: string; counter: bigint; hostAddress: string; reason: string; message: string };

/**
 * Counts usage receipts: every signature checked (the host's over the receipt, the user's over the
 * request), each (grant, counter) counted once however often it is reported, every refusal
 * published with its reason. Runs inside the consumer's transaction, so a batch counts exactly once.
 */
@Injectable()
export class UsageService {
  private readonly log = new Logger(UsageService.name);

  constructor(private readonly outbox: Outbox) {}

  async ingest(m: EntityManager, receipts: accessV1.UsageReceipt[], now = Date.now()): Promise<{ counted: number; duplicates: number; rejected: number }> {
    const rejections: Rejection[] = [];
    const decoded: { body: accessV1.ReceiptBody; receipt: accessV1.UsageReceipt }[] = [];
    for (const receipt of receipts) {
      try {
        const body = fromBinary(accessV1.ReceiptBodySchema, receipt.body);
        if (!body.grantId || !body.hostAddress || body.requestSha256.length !== 32) throw new Error('grant id, host address and a 32-byte request hash are required');
        decoded.push({ body, receipt });
      } catch (e) {
        rejections.push({ grantId: '', counter: 0n, hostAddress: '', reason: 'malformed', message: `receipt does not decode: ${(e as Error).message}` });
      }
    }
    const grantIds = [...new Set(decoded.map((d) => d.body.grantId).filter((id) => /^[0-9a-f-]{36}$/i.test(id)))];
    const grants = new Map((grantIds.length ? await m.getRepository(Grant).findBy({ id: In(grantIds) }) : []).map((g) => [g.id, g]));
    const hosts = [...new Set(decoded.map((d) => d.body.hostAddress))];
    const keys = new Map((hosts.length ? await m.getRepository(ServingKey).findBy({ hostAddress: In(hosts) }) : []).map((k) => [`${k.hostAddress}/${k.keyId}`, Buffer.from(k.publicKey, 'base64url')]));

    const accepted: Partial<UsageReceiptRecord>[] = [];
    for (const { body, receipt } of decoded) {
      const reject = (reason: string, message: string) => rejections.push({ grantId: body.grantId, counter: body.counter, hostAddress: body.hostAddress, reason, message });
      const hostKey = keys.get(`${body.hostAddress}/${receipt.hostKeyId}`);
      if (!hostKey) {
        reject('unknown_host_key', `host ${body.hostAddress} has no serving key "${receipt.hostKeyId}"; register it at POST /hosts/serving-keys`);
        continue;
      }
      if (!verifyEd25519(receipt.hostSignature, receiptSigningBytes(receipt.body), hostKey)) {
        reject('bad_host_signature', `the receipt is not signed by serving key "${receipt.hostKeyId}" of ${body.hostAddress}`);
        continue;
      }
      const grant = grants.get(body.grantId);
      if (!grant) {
        reject('unknown_grant', `grant ${body.grantId} was never issued`);
        continue;
      }
      if (body.modelId !== grant.modelId) {
        reject('wrong_model', `grant ${grant.id} is for model ${grant.modelId}, the receipt says ${body.modelId}`);
        continue;
      }
      const digest = requestDigestOfHash(grant.id, body.counter, body.hostAddress, body.modelId, body.requestSha256);
      if (!verifyEd25519(body.userSignature, digest, Buffer.from(grant.userPublicKey, 'base64url'))) {
        reject('bad_user_signature', `the user's signature does not cover this request (grant ${grant.id}, counter ${body.counter}, host ${body.hostAddress})`);
        continue;
      }
      const servedAt = Number(body.servedAt);
      if (servedAt > now + MAX_CLOCK_SKEW_MS) {
        reject('from_the_future', `served at ${new Date(servedAt).toISOString()}, later than now (${new Date(now).toISOString()}) by more than ${MAX_CLOCK_SKEW_MS / 1000} s`);
        continue;
      }
      if (servedAt >= grant.expiresAt.getTime() || servedAt < grant.notBefore.getTime()) {
        reject('outside_grant', `served at ${new Date(servedAt).toISOString()}, outside grant ${grant.id}'s validity`);
        continue;
      }
      if (grant.revokedAt && servedAt > grant.revokedAt.getTime() + MAX_CLOCK_SKEW_MS) {
        reject('revoked', `served after grant ${grant.id} was revoked`);
        continue;
      }
      accepted.push({
        grantId: grant.id,
        counter: String(body.counter),
        hostAddress: body.hostAddress,
        modelId: body.modelId,
        userId: grant.userId,
        tokensIn: body.tokensIn,
        tokensOut: body.tokensOut,
        servedAt: new Date(servedAt),
        receipt: Buffer.from(toBinary(accessV1.UsageReceiptSchema, receipt)).toString('base64url'),
      });
    }
    let counted = 0;
    if (accepted.length) {
      const result = await m.createQueryBuilder().insert().into(UsageReceiptRecord).values(accepted).orIgnore().returning(['grantId']).execute();
      counted = result.raw.length;
    }
    for (const r of rejections) await this.outbox.enqueue(m, 'access.usage.rejected', r);
    if (rejections.length) this.log.warn(`${rejections.length} of ${receipts.length} receipts rejected (${[...new Set(rejections.map((r) => r.reason))].join(', ')})`);
    return { counted, duplicates: accepted.length - counted, rejected: rejections.length };
  }

  async totals(m: EntityManager, grantId: string) {
    const [row] = await m.query('SELECT count(*)::int AS requests, coalesce(sum(tokens_in), 0)::int AS tokens_in, coalesce(sum(tokens_out), 0)::int AS tokens_out FROM usage_receipts WHERE grant_id = $1', [grantId]);
    return { requests: row.requests as number, tokensIn: row.tokens_in as number, tokensOut: row.tokens_out as number };
  }
}
