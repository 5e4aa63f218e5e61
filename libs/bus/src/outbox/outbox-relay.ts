import { Logger } from '@nestjs/common';
import { In, type DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import type { Bus, BusLogger } from '../bus';
import { headerValue } from '../envelope';
import { OutboxMessage } from './outbox-message.entity';
import { outboxChannel } from './outbox';

export interface OutboxRelayOptions {
  /** Polling period, the fallback when a notification is missed. Default 1000 ms. */
  intervalMs?: number;
  /** Rows per transaction. Default 100. */
  batchSize?: number;
  /** Wake up on pg_notify from Outbox.enqueue. Default true. */
  listen?: boolean;
  logger?: BusLogger;
}

interface PgClient {
  connect(): Promise<void>;
  query(sql: string): Promise<unknown>;
  end(): Promise<void>;
  on(event: 'notification', cb: (msg: { channel: string }) => void): void;
  on(event: 'error', cb: (err: Error) => void): void;
}

/**
 * Publishes committed outbox rows in creation order. Rows are claimed with FOR UPDATE SKIP LOCKED,
 * so relays of several replicas share the work; a crash between publish and marking re-publishes
 * the same Nats-Msg-Id, which JetStream drops within its duplicate window.
 */
export class OutboxRelay {
  private readonly intervalMs: number;
  private readonly batchSize: number;
  private readonly logger: BusLogger;
  private loop?: Promise<void>;
  private stopping = false;
  private wakeRequested = false;
  private wake?: () => void;
  private listener?: PgClient;

  constructor(
    private readonly dataSource: DataSource,
    private readonly bus: Bus,
    private readonly options: OutboxRelayOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 1_000;
    this.batchSize = options.batchSize ?? 100;
    this.logger = options.logger ?? new Logger('OutboxRelay');
  }

  start(): void {
    if (this.loop) return;
    this.stopping = false;
    this.loop = this.run();
  }

  /** Stops polling; resolves once the batch in flight (if any) has committed. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.notify();
    await this.loop;
    this.loop = undefined;
  }

  /** Publishes one batch; returns how many rows it published. */
  async relayOnce(): Promise<number> {
    return this.dataSource.transaction(async (manager) => {
      const repo = manager.getRepository(OutboxMessage);
      const rows = await repo
        .createQueryBuilder('m')
        .where('m.publishedAt IS NULL')
        .orderBy('m.createdAt', 'ASC')
        .addOrderBy('m.id', 'ASC')
        .limit(this.batchSize)
        .setLock('pessimistic_write')
        .setOnLocked('skip_locked')
        .getMany();
      // All of the batch in flight at once (acks come back in order on one connection); only the
      // rows before the first failure count as published, so consumers see events in the order
      // they were written, and a later row that did get through is re-sent with its Nats-Msg-Id.
      const results = await Promise.allSettled(rows.map((row) => this.bus.publishEnvelope(new Uint8Array(row.envelope), row.subject)));
      const published: string[] = [];
      for (const [i, result] of results.entries()) {
        const row = rows[i];
        if (result.status === 'fulfilled') {
          published.push(row.id);
          continue;
        }
        const err = result.reason as Error;
        const message = headerValue(err?.message ?? String(err), 2_000);
        this.logger.warn(`outbox row ${row.id} (${row.subject}) not published, will retry: ${message}`);
        await repo.update({ id: row.id }, { attempts: () => 'attempts + 1', lastError: message });
        break;
      }
      if (published.length > 0) {
        await repo.update({ id: In(published) }, { publishedAt: () => 'clock_timestamp()', attempts: () => 'attempts + 1', lastError: null });
      }
      return published.length;
    });
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      if (this.options.listen !== false && !this.listener) await this.listen();
      this.wakeRequested = false;
      let published = 0;
      try {
        published = await this.relayOnce();
      } catch (err) {
        this.logger.error(`outbox relay batch failed: ${(err as Error).message}`, (err as Error).stack);
      }
      if (published < this.batchSize) await this.sleep();
    }
    await this.unlisten();
  }

  private sleep(): Promise<void> {
    if (this.wakeRequested || this.stopping) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, this.intervalMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    }).then(() => {
      this.wake = undefined;
    });
  }

  private notify(): void {
    this.wakeRequested = true;
    this.wake?.();
  }

  private async listen(): Promise<void> {
    const driver = this.dataSource.driver as PostgresDriver;
    if (!driver.postgres?.Client || !driver.master?.options) return;
    // A dedicated connection: a LISTEN must outlive any pooled query.
    const client: PgClient = new driver.postgres.Client(driver.master.options);
    client.on('error', (err) => {
      this.logger.warn(`outbox LISTEN connection lost, polling until it is back: ${err.message}`);
      if (this.listener === client) this.listener = undefined;
    });
    client.on('notification', () => this.notify());
    try {
      await client.connect();
      const channel = outboxChannel((this.dataSource.options as { schema?: string }).schema);
      await client.query(`LISTEN "${channel.replace(/"/g, '""')}"`);
      this.listener = client;
    } catch (err) {
      this.logger.warn(`outbox LISTEN failed, polling every ${this.intervalMs} ms: ${(err as Error).message}`);
      await client.end().catch(() => undefined);
    }
  }

  private async unlisten(): Promise<void> {
    const client = this.listener;
    this.listener = undefined;
    await client?.end().catch(() => undefined);
  }
}
