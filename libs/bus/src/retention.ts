import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { BusLogger } from './bus';
import { DUPLICATE_WINDOW_MS } from './streams';
import { ProcessedMessage } from './consumer/processed-message.entity';
import { OutboxMessage } from './outbox/outbox-message.entity';

export interface BusRetentionOptions {
  /** Published outbox rows older than this are deleted: past JetStream's duplicate window, a row is only a record. */
  outboxMs: number;
  /**
   * Processed-message rows older than this are deleted; 0: never. A message comes again while it is
   * unacked (ack wait × attempts), when the indexer re-publishes a log of a reorged branch, and when a
   * durable is lost and created again (it reads its stream from the start): a record may go only once
   * its stream no longer holds the message (a stream max_age below this).
   */
  processedMs: number;
  /** How often to prune. Default 10 min. */
  intervalMs?: number;
  /** Rows deleted per statement, so a prune never holds long locks. Default 10,000. */
  batch?: number;
  logger?: BusLogger;
}

/** Keeps a service's bus tables from growing forever: published outbox rows and processed-message records past their use. */
export class BusRetention {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  private readonly logger: BusLogger;

  constructor(
    private readonly dataSource: DataSource,
    private readonly options: BusRetentionOptions,
  ) {
    if (options.outboxMs <= DUPLICATE_WINDOW_MS)
      throw new Error(`outbox retention must exceed JetStream's duplicate window (${DUPLICATE_WINDOW_MS} ms), got ${options.outboxMs} ms`);
    this.logger = options.logger ?? new Logger('BusRetention');
  }

  start(): void {
    const tick = () => {
      this.running ??= this.pruneOnce()
        .catch((e: Error) => this.logger.warn(`pruning the bus tables: ${e.message}`))
        .finally(() => (this.running = undefined));
    };
    tick();
    this.timer = setInterval(tick, this.options.intervalMs ?? 600_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** Deletes what is past retention, a batch at a time; returns how many rows of each table went. */
  async pruneOnce(): Promise<{ outbox: number; processed: number }> {
    const outbox = this.dataSource.getRepository(OutboxMessage).metadata.tablePath;
    const processed = this.dataSource.getRepository(ProcessedMessage).metadata.tablePath;
    const batch = this.options.batch ?? 10_000;
    const prune = async (sql: string, ms: number) => {
      let total = 0;
      for (;;) {
        const [, n]: [unknown, number] = await this.dataSource.query(sql, [ms / 1000, batch]);
        total += n;
        if (n < batch) return total;
      }
    };
    return {
      outbox: await prune(
        `DELETE FROM ${outbox} WHERE id IN (SELECT id FROM ${outbox} WHERE published_at IS NOT NULL AND published_at < now() - make_interval(secs => $1) LIMIT $2)`,
        this.options.outboxMs,
      ),
      processed: !this.options.processedMs
        ? 0
        : await prune(
            `DELETE FROM ${processed} WHERE (consumer, message_id) IN (SELECT consumer, message_id FROM ${processed} WHERE processed_at < now() - make_interval(secs => $1) LIMIT $2)`,
            this.options.processedMs,
          ),
    };
  }
}
