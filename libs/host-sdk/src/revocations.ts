import { Bus, decodeEnvelope } from '@clopen/bus';
import { timestampDate } from '@clopen/proto';
import type { RevocationList } from './verifier';

/**
 * The host's copy of revoked grants, kept current from `access.grant.revoked` on JetStream: an
 * ordered consumer replays the REVOCATIONS stream (those events alone, mirrored from ACCESS: the one
 * stream a partner's NATS account may read) from its start when the host starts, then follows it, so a
 * revocation reaches a running host within the time NATS takes to deliver one message. A
 * revocation is forgotten once its grant has expired (the verifier refuses expired grants anyway).
 */
export class RevocationFeed implements RevocationList {
  private readonly revoked = new Map<string, number>();
  private stopped = false;
  private loop?: Promise<void>;

  private constructor(private readonly now: () => number) {}

  static async follow(bus: Bus, options: { now?: () => number } = {}): Promise<RevocationFeed> {
    const feed = new RevocationFeed(options.now ?? Date.now);
    // One subject as a string: NATS 2.9 servers do not take a list of filter subjects.
    const consumer = await bus.js.consumers.get(bus.stream('REVOCATIONS'), { filterSubjects: bus.subject('access.grant.revoked') });
    const messages = await consumer.consume();
    feed.loop = (async () => {
      for await (const m of messages) {
        if (feed.stopped) break;
        try {
          const { payload } = decodeEnvelope(m.data, 'access.grant.revoked');
          feed.add(payload.grantId, payload.expiresAt ? timestampDate(payload.expiresAt).getTime() : Number.MAX_SAFE_INTEGER);
        } catch {
          // Not a revocation this version understands; the next message still counts.
        }
      }
    })();
    feed.close = async () => {
      feed.stopped = true;
      messages.stop();
      await feed.loop;
    };
    return feed;
  }

  add(grantId: string, expiresAtMs: number): void {
    this.revoked.set(grantId, expiresAtMs);
  }

  isRevoked(grantId: string): boolean {
    const until = this.revoked.get(grantId);
    if (until === undefined) return false;
    if (until <= this.now()) {
      this.revoked.delete(grantId);
      return false;
    }
    return true;
  }

  get size(): number {
    return this.revoked.size;
  }

  close: () => Promise<void> = async () => undefined;
}
