import { AckPolicy, DeliverPolicy, nanos, type ConsumerMessages } from 'nats';
import { Bus, decodeEnvelope, partnerReaderName, partnerSubject, type Envelope, type EventPayload } from '@clopen/bus';

export type UsageRejection = EventPayload<'access.usage.rejected'>;

export interface RejectionFeedOptions {
  /** A refusal not acked within this long (the handler threw or the process died) is delivered again. Default 30 s. */
  ackWaitMs?: number;
}

/**
 * The refusals of the receipts a partner reported, as access addresses them to it: the copy of each
 * `access.usage.rejected` on `access.usage.rejected.<partner id>`, in the PARTNERS stream. A partner's
 * NATS account may read that subject alone, through one durable of a fixed name
 * (partnerReaderName), so a partner that was away resumes where it stopped and none reads another's.
 * Each refusal goes to `onRejection` and is acked when it returns; when it throws, the refusal comes
 * again after `ackWaitMs`. On a NATS without accounts (npm start, the tests) it works the same.
 */
export class RejectionFeed {
  private loop?: Promise<void>;
  private messages?: ConsumerMessages;

  private constructor(readonly consumerName: string) {}

  static async follow(
    bus: Bus,
    partner: string,
    onRejection: (rejection: UsageRejection, envelope: Envelope) => unknown,
    options: RejectionFeedOptions = {},
  ): Promise<RejectionFeed> {
    const name = partnerReaderName('access.usage.rejected', partner);
    const stream = bus.stream('PARTNERS');
    // Created, or updated to the same config: the server takes the name and filter from the create subject, which is all a partner may use.
    await bus.jsm.consumers.add(stream, {
      durable_name: name,
      filter_subject: bus.subject(partnerSubject('access.usage.rejected', partner)),
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(options.ackWaitMs ?? 30_000),
      deliver_policy: DeliverPolicy.All,
    });
    const feed = new RejectionFeed(name);
    feed.messages = await (await bus.js.consumers.get(stream, name)).consume({ max_messages: 64 });
    const messages = feed.messages;
    feed.loop = (async () => {
      for await (const m of messages) {
        let envelope: Envelope;
        let payload: UsageRejection;
        try {
          ({ envelope, payload } = decodeEnvelope(m.data, 'access.usage.rejected'));
        } catch {
          // Not a refusal this version understands: it would never decode, so it is not redelivered.
          m.term();
          continue;
        }
        try {
          await onRejection(payload, envelope);
          m.ack();
        } catch {
          m.nak(options.ackWaitMs ?? 30_000);
        }
      }
    })();
    return feed;
  }

  /** Stops reading; what was handed out and not acked comes again to the next follow(). */
  async close(): Promise<void> {
    this.messages?.stop();
    await this.loop;
  }
}
