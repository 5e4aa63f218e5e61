import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Bus, SERVICE_GRANTS, consume, type ConsumerHandle, type EventPayload } from '@clopen/bus';
import { timestampDate } from '@clopen/proto';
import { CONFIG } from '@clopen/service-kit';
import type { IncentivesConfig } from '../incentives.settings';
import { EpochsService } from '../epochs/epochs.service';
import { ArtefactLinks } from '@clopen/model-links';
import { SlashesService } from '../slashes/slashes.service';
import { TransactionsService } from '../transactions/transactions.service';

/** What incentives consumes: its grant on the bus (libs/bus permissions) is the one list. */
const SUBJECTS = SERVICE_GRANTS.incentives.consumes;

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
    this.consumer = await consume({
      bus: this.bus,
      dataSource: this.db,
      durable: 'incentives',
      subjects: SUBJECTS,
      logger: this.log,
      handler: async (payload, { subject, manager, envelope }) => {
        switch (subject) {
          case 'access.epoch.closed':
            return this.epochs.epochClosed(manager, payload as EventPayload<'access.epoch.closed'>);
          case 'access.violation.proven':
            return this.slashes.violationProven(manager, payload as EventPayload<'access.violation.proven'>, envelope.occurredAt ? timestampDate(envelope.occurredAt) : new Date());
          case 'distribution.assignment.committed':
            return this.epochs.assignmentCommitted(manager, payload as EventPayload<'distribution.assignment.committed'>);
          case 'storage.version.published':
            return this.links.storageVersionPublished(manager, payload as EventPayload<'storage.version.published'>);
          case 'chain.registry.version_published':
            return this.links.chainVersionPublished(manager, payload as EventPayload<'chain.registry.version_published'>);
          case 'chain.collateral.slash_appealed':
            return this.slashes.appealed(manager, payload as EventPayload<'chain.collateral.slash_appealed'>);
          case 'chain.blocks.reorged':
            return this.links.reorged(manager, payload as EventPayload<'chain.blocks.reorged'>);
        }
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
