import { createHash, sign, type KeyObject } from 'node:crypto';
import { accessV1, create, toBinary } from '@clopen/proto';
import type { VerifiedPermission } from './verifier';

const RECEIPT_CONTEXT = Buffer.from('clopen-receipt-v1\n');

/** What the host's serving key signs: a fixed context, then the serialized ReceiptBody. */
export function receiptSigningBytes(body: Uint8Array): Buffer {
  return Buffer.concat([RECEIPT_CONTEXT, body]);
}

export interface ServedRequest {
  permission: VerifiedPermission;
  host: string;
  requestBody: string | Uint8Array;
  responseBody: string | Uint8Array;
  tokensIn: number;
  tokensOut: number;
  servedAt?: Date;
}

/** The host's receipt for one served request, signed with its registered serving key (ed25519). */
export function signReceipt(servingKey: KeyObject, hostKeyId: string, served: ServedRequest): accessV1.UsageReceipt {
  const sha = (b: string | Uint8Array) => createHash('sha256').update(b).digest();
  const body = toBinary(
    accessV1.ReceiptBodySchema,
    create(accessV1.ReceiptBodySchema, {
      grantId: served.permission.grantId,
      counter: served.permission.counter,
      hostAddress: served.host,
      modelId: served.permission.modelId,
      tokensIn: served.tokensIn,
      tokensOut: served.tokensOut,
      requestSha256: sha(served.requestBody),
      userSignature: served.permission.userSignature,
      responseSha256: sha(served.responseBody),
      servedAt: BigInt((served.servedAt ?? new Date()).getTime()),
    }),
  );
  return create(accessV1.UsageReceiptSchema, { body, hostKeyId, hostSignature: sign(null, receiptSigningBytes(body), servingKey) });
}
