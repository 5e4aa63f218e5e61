import { createHash, sign, type KeyObject } from 'node:crypto';
import { accessV1, create, toBinary } from '@clopen/proto';
import type { VerifiedPermission } from './verifier';

const RECEIPT_CONTEXT = Buffer.from('clopen-receipt-v1\n');

/** What the host's serving key signs: a fixed context, then the serialized ReceiptBody. */
export function receiptSigningBytes(body: Uint8Array): Buffer {
  return Buffer.concat([RECEIPT_CONTEXT, body]);
}

export interface ServedRequest {
  permission: Pick<VerifiedPermission, 'grantId' | 'counter' | 'modelId' | 'userSignature'>;
  host: string;
  requestBody: string | Uint8Array;
  responseBody: string | Uint8Array;
  tokensIn: number;
  tokensOut: number;
  servedAt?: Date;
}

/** The serialized ReceiptBody of one served request: what the host's serving key signs. */
export function receiptBody(host: string, served: Omit<ServedRequest, 'host'>): Uint8Array {
  const sha = (b: string | Uint8Array) => createHash('sha256').update(b).digest();
  return toBinary(
    accessV1.ReceiptBodySchema,
    create(accessV1.ReceiptBodySchema, {
      grantId: served.permission.grantId,
      counter: served.permission.counter,
      hostAddress: host,
      modelId: served.permission.modelId,
      tokensIn: served.tokensIn,
      tokensOut: served.tokensOut,
      requestSha256: sha(served.requestBody),
      userSignature: served.permission.userSignature,
      responseSha256: sha(served.responseBody),
      servedAt: BigInt((served.servedAt ?? new Date()).getTime()),
    }),
  );
}

/** The host's receipt for one served request, signed with its registered serving key (ed25519). */
export function signReceipt(servingKey: KeyObject, hostKeyId: string, served: ServedRequest): accessV1.UsageReceipt {
  const body = receiptBody(served.host, served);
  return create(accessV1.UsageReceiptSchema, { body, hostKeyId, hostSignature: sign(null, receiptSigningBytes(body), servingKey) });
}

const BATCH_CONTEXT = Buffer.from('clopen-receipt-batch-v1\n');

/** sha256 of every receipt body of a batch, concatenated in order: what a batch signature covers (and the evidence kept). */
export function batchBodyHashes(bodies: readonly Uint8Array[]): Buffer {
  return Buffer.concat(bodies.map((body) => createHash('sha256').update(body).digest()));
}

/** What a host signs for a batch of its own receipts: context, host address, then each body's sha256 in order. */
export function batchSigningBytes(hostAddress: string, bodies: readonly Uint8Array[], hashes = batchBodyHashes(bodies)): Buffer {
  return Buffer.concat([BATCH_CONTEXT, Buffer.from(`${hostAddress}\n`), hashes]);
}

/**
 * A batch of one host's receipts, signed once by its serving key. The receipts go without their
 * own signatures (those went to the users in the responses), so the access service verifies one
 * host signature per batch and one user signature per receipt.
 */
export function signReceiptBatch(
  servingKey: KeyObject,
  hostKeyId: string,
  hostAddress: string,
  receipts: readonly accessV1.UsageReceipt[],
): accessV1.UsageReported {
  const bodies = receipts.map((r) => r.body);
  return create(accessV1.UsageReportedSchema, {
    receipts: bodies.map((body) => create(accessV1.UsageReceiptSchema, { body, hostKeyId })),
    hostAddress,
    hostKeyId,
    batchSignature: sign(null, batchSigningBytes(hostAddress, bodies), servingKey),
  });
}
