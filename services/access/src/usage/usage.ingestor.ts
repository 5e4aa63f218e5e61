import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Bus, consumeBatches, type ConsumerHandle } from '@clopen/bus';
import { CONFIG, Metrics } from '@clopen/service-kit';
import type { AccessConfig } from '../access.settings';
import { UsageService } from './usage.service';

/**
 * Receipts arrive on JetStream from hosts and partners, many per second: each pull of messages is
 * ingested in one transaction (consumeBatches), so a message counts exactly once even when the
 * service dies between commit and ack, and replicas share the durable consumers. Partners publish
 * from NATS accounts of their own, and their batches arrive as access.usage.reported.<partner>
 * (infra/nats): a second durable reads those; a (grant, counter) still counts once, whichever way
 * it came.
 */
@Injectable()
export class UsageIngestor implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger(UsageIngestor.name);
  private readonly consumers: ConsumerHandle[] = [];

  constructor(
    private readonly bus: Bus,
    private readonly db: DataSource,
    private readonly usage: UsageService,
    private readonly metrics: Metrics,
    @Inject(CONFIG) private readonly config: AccessConfig,
  ) {}

  async onApplicationBootstrap() {
    const receipts = this.metrics.counter(
      'access_receipts_total',
      'Usage receipts ingested: counted, duplicate (reported again, not counted again) or rejected (see access.usage.rejected).',
      ['outcome'],
    );
    const rejected = this.metrics.counter('access_receipts_rejected_total', 'Usage receipts refused, by reason (REJECTION_REASONS in the access service).', [
      'reason',
    ]);
    await this.bus.ensureStreams();
    for (const fromPartners of [false, true]) {
      this.consumers.push(
        await consumeBatches({
          bus: this.bus,
          dataSource: this.db,
          durable: 'access',
          subject: 'access.usage.reported',
          fromPartners,
          maxMessages: this.config.ACCESS_INGEST_BATCH_MESSAGES,
          concurrency: this.config.ACCESS_INGEST_CONCURRENCY,
          logger: this.log,
          handler: async (items, manager) => {
            const result = await this.usage.ingest(
              manager,
              items.map((i) => ({ id: i.envelope.id, report: i.payload, storedAt: i.storedAt, ...(i.partner ? { partner: i.partner } : {}) })),
            );
            receipts.inc({ outcome: 'counted' }, result.counted);
            receipts.inc({ outcome: 'duplicate' }, result.duplicates);
            receipts.inc({ outcome: 'rejected' }, result.rejected);
            for (const [reason, n] of Object.entries(result.reasons)) rejected.inc({ reason }, n);
          },
        }),
      );
    }
  }

  async onApplicationShutdown() {
    await Promise.all(this.consumers.map((c) => c.stop()));
  }
}
