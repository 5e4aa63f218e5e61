// A partner's host follows revocations: the one stream its NATS account may read, REVOCATIONS (a
// mirror of access.grant.revoked), through the platform's JetStream API prefix. Its account may not
// ack, so it reads with an ordered consumer from the stream's start each time it starts (the stream
// holds revocations only) and keeps what it learns in memory.
import type { NatsConnection } from 'nats';
import { accessV1, busV1, fromBinary, timestampDate } from '@clopen/proto';

export const PARTNER_JS_API_PREFIX = '$JS.clopen.API';

export interface Revocations {
  isRevoked(grantId: string): boolean;
  stop(): Promise<void>;
}

export async function followRevocations(nc: NatsConnection, options: { apiPrefix?: string; namespace?: string } = {}): Promise<Revocations> {
  const ns = options.namespace;
  const js = nc.jetstream({ apiPrefix: options.apiPrefix ?? PARTNER_JS_API_PREFIX });
  // No name: an ordered consumer, delivering the whole stream in order, then what comes.
  const consumer = await js.consumers.get(ns ? `${ns}_REVOCATIONS` : 'REVOCATIONS', {
    filterSubjects: ns ? `${ns}.access.grant.revoked` : 'access.grant.revoked',
  });
  const messages = await consumer.consume();
  const revoked = new Map<string, number>(); // grant id → until when to refuse it (ms)
  const done = (async () => {
    for await (const m of messages) {
      try {
        const envelope = fromBinary(busV1.EnvelopeSchema, m.data);
        const r = fromBinary(accessV1.GrantRevokedSchema, envelope.payload);
        // Seeing one twice changes nothing: the map is keyed by grant.
        revoked.set(r.grantId, r.expiresAt ? timestampDate(r.expiresAt).getTime() : Number.MAX_SAFE_INTEGER);
      } catch {
        // Not a revocation this version understands; the next one still counts.
      }
    }
  })();
  return {
    isRevoked: (grantId) => (revoked.get(grantId) ?? 0) > Date.now(),
    async stop() {
      messages.stop();
      await done;
    },
  };
}
