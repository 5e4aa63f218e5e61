// A partner host reports usage: one receipt per served request, a batch of them signed once by
// the host's serving key (registered with access at POST /hosts/serving-keys), published on
// access.usage.reported with the envelope id as Nats-Msg-Id.
import { createHash, sign, type KeyObject } from 'node:crypto';
import { headers, type JetStreamClient, type PubAck } from 'nats';
import { v7 as uuidv7 } from 'uuid';
import { accessV1, busV1, create, fromBinary, timestampFromDate, toBinary } from '@clopen/proto';

const SUBJECT = 'access.usage.reported';
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest();

export interface PartnerHost {
  /** EIP-55 address of the licensed host, as its serving key is registered. */
  address: string;
  keyId: string;
  /** The ed25519 serving key. */
  servingKey: KeyObject;
}

/**
 * The receipt body of one served request: what the host attests. The permission string is the
 * request's `x-clopen-permission` header, already verified before serving (libs/host-sdk README).
 */
export function receiptBody(
  host: PartnerHost,
  served: { permission: string; requestBody: Uint8Array; responseBody: Uint8Array; tokensIn: number; tokensOut: number; servedAt: Date },
): Uint8Array {
  const permission = fromBinary(accessV1.PermissionStringSchema, Buffer.from(served.permission, 'base64url'));
  const grant = fromBinary(accessV1.GrantSchema, permission.grant);
  return toBinary(
    accessV1.ReceiptBodySchema,
    create(accessV1.ReceiptBodySchema, {
      grantId: grant.id,
      counter: permission.counter,
      hostAddress: host.address,
      modelId: grant.modelId,
      tokensIn: served.tokensIn,
      tokensOut: served.tokensOut,
      requestSha256: sha256(served.requestBody),
      // The user's signature over this request: access checks it again, so a receipt cannot be made up.
      userSignature: permission.userSignature,
      responseSha256: sha256(served.responseBody),
      servedAt: BigInt(served.servedAt.getTime()),
    }),
  );
}

/** A message ready to publish. Keep it (e.g. on disk) until JetStream acknowledges it, and retry it unchanged. */
export interface UsageMessage {
  id: string;
  data: Uint8Array;
  headers: Record<string, string>;
}

/** A batch of the host's receipt bodies, signed once, in its envelope. */
export function usageBatch(host: PartnerHost, bodies: Uint8Array[], producer: string, now = new Date()): UsageMessage {
  // ed25519 over "clopen-receipt-batch-v1\n", the host address, "\n", then each body's sha256 in order.
  const signed = Buffer.concat([Buffer.from('clopen-receipt-batch-v1\n'), Buffer.from(`${host.address}\n`), ...bodies.map(sha256)]);
  const report = create(accessV1.UsageReportedSchema, {
    receipts: bodies.map((body) => ({ body, hostKeyId: host.keyId })),
    hostAddress: host.address,
    hostKeyId: host.keyId,
    batchSignature: sign(null, signed, host.servingKey),
  });
  const id = uuidv7();
  const envelope = create(busV1.EnvelopeSchema, {
    id,
    subject: SUBJECT,
    occurredAt: timestampFromDate(now),
    producer,
    correlationId: id,
    payload: toBinary(accessV1.UsageReportedSchema, report),
  });
  return {
    id,
    data: toBinary(busV1.EnvelopeSchema, envelope),
    headers: { 'Clopen-Subject': SUBJECT, 'Clopen-Producer': producer, 'Clopen-Correlation-Id': id, 'Clopen-Occurred-At': now.toISOString() },
  };
}

/**
 * Publishes the batch; `msgID` sets the Nats-Msg-Id header, so a retry of the same message within
 * JetStream's duplicate window is dropped (the ack says `duplicate`). `namespace` is the
 * deployment's BUS_NAMESPACE, if it has one.
 */
export async function publishUsage(js: JetStreamClient, message: UsageMessage, namespace = ''): Promise<PubAck> {
  const h = headers();
  for (const [name, value] of Object.entries(message.headers)) h.set(name, value);
  return js.publish(namespace ? `${namespace}.${SUBJECT}` : SUBJECT, message.data, { msgID: message.id, headers: h });
}
