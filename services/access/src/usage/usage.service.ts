import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { In, type EntityManager } from 'typeorm';
import { Outbox } from '@clopen/bus';
import { batchBodyHashes, batchSigningBytes, Ed25519VerifyPool, receiptSigningBytes, requestDigestOfHash, type SignedMessage } from '@clopen/host-sdk';
import { accessV1, create, fromBinary, toBinary } from '@clopen/proto';
import { CONFIG } from '@clopen/service-kit';
import type { AccessConfig } from '../access.settings';
import { Grant } from '../grants/grant.entity';
import { ServingKey } from '../hosts/serving-key.entity';

/** Clocks differ; a receipt served further in the future than this is refused. */
const MAX_CLOCK_SKEW_MS = 60_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type Rejection = { grantId: string; counter: bigint; hostAddress: string; reason: string; message: string };

/** One `access.usage.reported` message: its envelope id names the batch. */
export interface ReportedBatch {
  id: string;
  report: accessV1.UsageReported;
}

export interface IngestResult {
  counted: number;
  duplicates: number;
  rejected: number;
}

interface Decoded {
  batch: ReportedBatch;
  receipt: accessV1.UsageReceipt;
  body: accessV1.ReceiptBody;
  /** Index of the host signature (the batch's or the receipt's own) in the verify list. */
  hostCheck: number;
  userCheck: number;
}

/**
 * Counts usage receipts: every signature checked (the host's over its batch or over each receipt,
 * the user's over each request), each (grant, counter) counted once however often it is reported,
 * every refusal published with its reason. Runs in the consumer's transaction, so a batch of
 * messages counts exactly once; the signatures of a whole pull are verified together on worker
 * threads and the receipts written by one multi-row insert.
 */
@Injectable()
export class UsageService implements OnModuleDestroy {
  private readonly log = new Logger(UsageService.name);
  private readonly pool: Ed25519VerifyPool;

  constructor(private readonly outbox: Outbox, @Inject(CONFIG) config: AccessConfig) {
    this.pool = new Ed25519VerifyPool(config.ACCESS_VERIFY_THREADS);
  }

  async onModuleDestroy() {
    await this.pool.close();
  }

  async ingest(m: EntityManager, batches: readonly ReportedBatch[], now = Date.now()): Promise<IngestResult> {
    const rejections: Rejection[] = [];
    const reject = (body: accessV1.ReceiptBody | undefined, reason: string, message: string) =>
      rejections.push({ grantId: body?.grantId ?? '', counter: body?.counter ?? 0n, hostAddress: body?.hostAddress ?? '', reason, message });

    // Decode everything first, so grants and keys are read once for the whole pull.
    const decoded: Omit<Decoded, 'hostCheck' | 'userCheck'>[] = [];
    for (const batch of batches) {
      const signed = batch.report.batchSignature.length > 0;
      for (const receipt of batch.report.receipts) {
        let body: accessV1.ReceiptBody;
        try {
          body = fromBinary(accessV1.ReceiptBodySchema, receipt.body);
        } catch (e) {
          reject(undefined, 'malformed', `receipt does not decode: ${(e as Error).message}`);
          continue;
        }
        if (!body.grantId || !body.hostAddress || body.requestSha256.length !== 32) {
          reject(body, 'malformed', 'grant id, host address and a 32-byte request hash are required');
          continue;
        }
        if (signed && body.hostAddress !== batch.report.hostAddress) {
          reject(body, 'malformed', `a batch signed by ${batch.report.hostAddress} holds a receipt of host ${body.hostAddress}; a host signs only its own receipts`);
          continue;
        }
        decoded.push({ batch, receipt, body });
      }
    }
    const grantIds = [...new Set(decoded.map((d) => d.body.grantId).filter((id) => UUID.test(id)))];
    const grants = new Map((grantIds.length ? await m.getRepository(Grant).findBy({ id: In(grantIds) }) : []).map((g) => [g.id, g]));
    const hosts = [...new Set([...decoded.map((d) => d.body.hostAddress), ...batches.map((b) => b.report.hostAddress).filter(Boolean)])];
    const keys = new Map((hosts.length ? await m.getRepository(ServingKey).findBy({ hostAddress: In(hosts) }) : []).map((k) => [`${k.hostAddress}/${k.keyId}`, Buffer.from(k.publicKey, 'base64url')]));

    // Every signature of the pull in one list, verified together.
    const checks: SignedMessage[] = [];
    const none = -1;
    const batchCheck = new Map<ReportedBatch, number>();
    // Hashed once: the signature check and the evidence kept in usage_batches use the same bytes.
    const bodyHashes = new Map<ReportedBatch, Buffer>();
    for (const batch of batches) {
      const r = batch.report;
      if (!r.batchSignature.length) continue;
      const key = keys.get(`${r.hostAddress}/${r.hostKeyId}`);
      if (!key) continue;
      const bodies = r.receipts.map((x) => x.body);
      bodyHashes.set(batch, batchBodyHashes(bodies));
      batchCheck.set(batch, checks.push({ signature: r.batchSignature, message: batchSigningBytes(r.hostAddress, bodies, bodyHashes.get(batch)), publicKey: key }) - 1);
    }
    const items: Decoded[] = decoded.map((d) => {
      const signed = d.batch.report.batchSignature.length > 0;
      const hostKey = keys.get(`${d.body.hostAddress}/${signed ? d.batch.report.hostKeyId : d.receipt.hostKeyId}`);
      const hostCheck = signed
        ? (batchCheck.get(d.batch) ?? none)
        : hostKey
          ? checks.push({ signature: d.receipt.hostSignature, message: receiptSigningBytes(d.receipt.body), publicKey: hostKey }) - 1
          : none;
      const grant = grants.get(d.body.grantId);
      const userCheck =
        grant && hostCheck !== none
          ? checks.push({
              signature: d.body.userSignature,
              message: requestDigestOfHash(grant.id, d.body.counter, d.body.hostAddress, d.body.modelId, d.body.requestSha256),
              publicKey: Buffer.from(grant.userPublicKey, 'base64url'),
            }) - 1
          : none;
      return { ...d, hostCheck, userCheck };
    });
    const valid = await this.pool.verifyMany(checks);

    const accepted: { grant: Grant; body: accessV1.ReceiptBody; receipt: accessV1.UsageReceipt; batch: ReportedBatch | null }[] = [];
    for (const { batch, receipt, body, hostCheck, userCheck } of items) {
      const signed = batch.report.batchSignature.length > 0;
      const keyId = signed ? batch.report.hostKeyId : receipt.hostKeyId;
      if (hostCheck === none) {
        reject(body, 'unknown_host_key', `host ${body.hostAddress} has no serving key "${keyId}"; register it at POST /hosts/serving-keys`);
        continue;
      }
      if (!valid[hostCheck]) {
        reject(body, 'bad_host_signature', `the ${signed ? 'batch' : 'receipt'} is not signed by serving key "${keyId}" of ${body.hostAddress}`);
        continue;
      }
      const grant = grants.get(body.grantId);
      if (!grant) {
        reject(body, 'unknown_grant', `grant ${body.grantId} was never issued`);
        continue;
      }
      if (body.modelId !== grant.modelId) {
        reject(body, 'wrong_model', `grant ${grant.id} is for model ${grant.modelId}, the receipt says ${body.modelId}`);
        continue;
      }
      if (!valid[userCheck]) {
        reject(body, 'bad_user_signature', `the user's signature does not cover this request (grant ${grant.id}, counter ${body.counter}, host ${body.hostAddress})`);
        continue;
      }
      const servedAt = Number(body.servedAt);
      if (servedAt > now + MAX_CLOCK_SKEW_MS) {
        reject(body, 'from_the_future', `served at ${new Date(servedAt).toISOString()}, later than now (${new Date(now).toISOString()}) by more than ${MAX_CLOCK_SKEW_MS / 1000} s`);
        continue;
      }
      if (servedAt >= grant.expiresAt.getTime() || servedAt < grant.notBefore.getTime()) {
        reject(body, 'outside_grant', `served at ${new Date(servedAt).toISOString()}, outside grant ${grant.id}'s validity`);
        continue;
      }
      if (grant.revokedAt && servedAt > grant.revokedAt.getTime() + MAX_CLOCK_SKEW_MS) {
        reject(body, 'revoked', `served after grant ${grant.id} was revoked`);
        continue;
      }
      accepted.push({ grant, body, receipt, batch: signed ? batch : null });
    }

    let counted = 0;
    if (accepted.length) {
      // A signed batch is the host's signature of its receipts: kept as the evidence behind them.
      const signedBatches = [...new Set(accepted.map((a) => a.batch).filter((b): b is ReportedBatch => b !== null))];
      if (signedBatches.length) {
        await m.query(
          `INSERT INTO usage_batches (id, host_address, host_key_id, signature, body_hashes)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bytea[]) ON CONFLICT DO NOTHING`,
          [
            signedBatches.map((b) => b.id),
            signedBatches.map((b) => b.report.hostAddress),
            signedBatches.map((b) => b.report.hostKeyId),
            signedBatches.map((b) => Buffer.from(b.report.batchSignature).toString('base64url')),
            signedBatches.map((b) => bodyHashes.get(b)!),
          ],
        );
      }
      const rows: { n: number }[] = await m.query(
        `INSERT INTO usage_receipts (grant_id, counter, host_address, model_id, user_id, tokens_in, tokens_out, served_at, receipt, batch_id)
         SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::int[], $7::int[], $8::timestamptz[], $9::text[], $10::uuid[])
         ON CONFLICT DO NOTHING RETURNING 1 AS n`,
        [
          accepted.map((a) => a.grant.id),
          accepted.map((a) => String(a.body.counter)),
          accepted.map((a) => a.body.hostAddress),
          accepted.map((a) => a.body.modelId),
          accepted.map((a) => a.grant.userId),
          accepted.map((a) => a.body.tokensIn),
          accepted.map((a) => a.body.tokensOut),
          accepted.map((a) => new Date(Number(a.body.servedAt)).toISOString()),
          // A receipt of a signed batch is kept without any signature of its own: the batch's is the one checked.
          accepted.map((a) => Buffer.from(toBinary(accessV1.UsageReceiptSchema, a.batch ? create(accessV1.UsageReceiptSchema, { body: a.receipt.body, hostKeyId: a.batch.report.hostKeyId }) : a.receipt)).toString('base64url')),
          accepted.map((a) => a.batch?.id ?? null),
        ],
      );
      counted = rows.length;
    }
    for (const r of rejections) await this.outbox.enqueue(m, 'access.usage.rejected', r);
    const total = batches.reduce((n, b) => n + b.report.receipts.length, 0);
    if (rejections.length) this.log.warn(`${rejections.length} of ${total} receipts rejected (${[...new Set(rejections.map((r) => r.reason))].join(', ')})`);
    return { counted, duplicates: accepted.length - counted, rejected: rejections.length };
  }

  async totals(m: EntityManager, grantId: string) {
    const [row] = await m.query('SELECT count(*)::int AS requests, coalesce(sum(tokens_in), 0)::int AS tokens_in, coalesce(sum(tokens_out), 0)::int AS tokens_out FROM usage_receipts WHERE grant_id = $1', [grantId]);
    return { requests: row.requests as number, tokensIn: row.tokens_in as number, tokensOut: row.tokens_out as number };
  }
}
