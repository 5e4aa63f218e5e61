import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Bus, SERVICE_GRANTS, consume, type ConsumerHandle } from '@clopen/bus';
import { timestampDate } from '@clopen/proto';
import { CONFIG } from '@clopen/service-kit';
import type { IncentivesConfig } from '../incentives.settings';
import { EpochsService } from '../epochs/epochs.service';
import { ArtefactLinks } from '@clopen/model-links';
import { SlashesService } from '../slashes/slashes.service';
import { TransactionsService } from '../transactions/transactions.service';

/** What incentives consumes: its grant on the bus (libs/bus permissions) is the one list. */
type Consumed = (typeof SERVICE_GRANTS.incentives.consumes)[number];

/**
 * What drives the service: the bus consumer records each event's consequences (idempotently, in
 * the event's transaction), and the loop turns them into protocol transactions and follows them.
 */
@Injectable()
export class SettlementLoop implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger(SettlementLoop.name);
  private consumer?: ConsumerHandle;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly bus: Bus,
    private readonly db: DataSource,
    private readonly transactions: TransactionsService,
    private readonly epochs: EpochsService,
    private readonly slashes: SlashesService,
    private readonly links: ArtefactLinks,
    @Inject(CONFIG) private readonly config: IncentivesConfig,
  ) {}

  async onApplicationBootstrap() {
    await this.bus.ensureStreams();
    this.consumer = await consume<Consumed>({
      bus: this.bus,
      dataSource: this.db,
      durable: 'incentives',
      logger: this.log,
      // One handler per subject it is granted (SERVICE_GRANTS): the type demands each.
      handlers: {
        'access.epoch.closed': (payload, { manager }) => this.epochs.epochClosed(manager, payload),
        'access.violation.proven': (payload, { manager, envelope }) =>
          this.slashes.violationProven(manager, payload, envelope.occurredAt ? timestampDate(envelope.occurredAt) : new Date()),
        'distribution.assignment.committed': (payload, { manager }) => this.epochs.assignmentCommitted(manager, payload),
        'storage.version.published': (payload, { manager }) => this.links.storageVersionPublished(manager, payload),
        'chain.registry.version_published': (payload, { manager }) => this.links.chainVersionPublished(manager, payload),
        'chain.collateral.slash_appealed': (payload, { manager }) => this.slashes.appealed(manager, payload),
        'chain.blocks.reorged': (payload, { manager }) => this.links.reorged(manager, payload),
      },
    });
    if (!this.config.INCENTIVES_MANUAL) this.schedule();
  }

  /** One round: send and follow transactions, queue what is due, send that too. */
  async tick(): Promise<void> {
    await this.transactions.step();
    await this.slashes.schedule();
    await this.epochs.schedule();
    await this.transactions.step();
  }

  private schedule() {
    this.timer = setTimeout(() => {
      this.running = this.tick()
        .catch((err: Error) => this.log.warn(`settlement round failed, retrying in ${this.config.INCENTIVES_TICK_MS} ms: ${err.message}`))
        .finally(() => {
          if (!this.stopped) this.schedule();
        });
    }, this.config.INCENTIVES_TICK_MS);
  }

  async onApplicationShutdown() {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    await this.consumer?.stop();
  }
}
