import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { getAddress } from 'viem';
import { Bus, SERVICE_GRANTS, consume, type ConsumerHandle, type EventPayload } from '@clopen/bus';
import { ArtefactLinks } from '@clopen/model-links';
import { CONFIG } from '@clopen/service-kit';
import type { DistributionConfig } from '../distribution.settings';
import { LicenceExists } from '../distribution.errors';
import { LicencesService } from './licences.service';

/** What distribution consumes: its grant on the bus (libs/bus permissions) is the one list. */
type Consumed = (typeof SERVICE_GRANTS.distribution.consumes)[number];

/**
 * Collateral licenses a host: when the chain indexer reports a stake (HostCollateral.Staked) of at
 * least DISTRIBUTION_CHAIN_MIN_STAKE on a model, the host is licensed for the newest platform version
 * that model's owner committed on chain (joined by artefact hash, libs/model-links), and its copy is
 * made. A stake seen before its version's commitment is retried until the commitment arrives. An
 * executed slash ends the slashed host's licences on the model (SlashExecuted does not name the
 * host: the proposal, seen before, does).
 */
@Injectable()
export class ChainLicences implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger(ChainLicences.name);
  private consumer?: ConsumerHandle;

  constructor(
    private readonly bus: Bus,
    private readonly db: DataSource,
    private readonly links: ArtefactLinks,
    private readonly licences: LicencesService,
    @Inject(CONFIG) private readonly config: DistributionConfig,
  ) {}

  async onApplicationBootstrap() {
    await this.bus.ensureStreams();
    this.consumer = await consume<Consumed>({
      bus: this.bus,
      dataSource: this.db,
      durable: 'distribution',
      logger: this.log,
      maxDeliver: 10,
      backoffMs: [1_000, 2_000, 5_000, 10_000, 30_000, 60_000],
      // One handler per subject it is granted (SERVICE_GRANTS): the type demands each.
      handlers: {
        'storage.version.published': (payload, { manager }) => this.links.storageVersionPublished(manager, payload),
        'chain.registry.version_published': (payload, { manager }) => this.links.chainVersionPublished(manager, payload),
        'chain.blocks.reorged': (payload, { manager }) => this.links.reorged(manager, payload),
        'chain.collateral.staked': (payload) => this.staked(payload),
        'chain.collateral.slash_proposed': async ({ args: { slashId, host, modelId } }, { manager }) => {
          await manager.query('INSERT INTO chain_slashes (slash_id, host_address, chain_model_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [
            slashId,
            getAddress(host),
            modelId,
          ]);
        },
        'chain.collateral.slash_executed': (payload, { manager }) => this.slashed(manager, payload),
      },
    });
  }

  private async staked(log: EventPayload<'chain.collateral.staked'>): Promise<void> {
    const { host, modelId, active } = log.args;
    if (BigInt(active) < this.config.DISTRIBUTION_CHAIN_MIN_STAKE) {
      this.log.log(`stake of ${host} on chain model ${modelId} (${active} active) is under DISTRIBUTION_CHAIN_MIN_STAKE; no licence`);
      return;
    }
    // Read outside the consumer's transaction: the version's link may have committed a moment ago.
    const version = await this.links.platformVersionOf(modelId);
    if (!version)
      throw new Error(`chain model ${modelId} has no committed version linked yet (ModelRegistry.publishVersion with a storage manifest hash); retrying`);
    try {
      const licence = await this.licences.grant({ versionId: version.versionId, hostAddress: getAddress(host) }, 'chain');
      this.log.log(`licensed ${host} for version ${version.versionId} on its stake in block ${log.position?.blockNumber}: licence ${licence.id}`);
    } catch (e) {
      if (e instanceof LicenceExists) return; // staked again, or this event redelivered
      throw e;
    }
  }

  private async slashed(manager: EntityManager, log: EventPayload<'chain.collateral.slash_executed'>): Promise<void> {
    const [slash] = await manager.query('SELECT host_address, chain_model_id::text AS model FROM chain_slashes WHERE slash_id = $1', [log.args.slashId]);
    if (!slash) throw new Error(`slash ${log.args.slashId} executed before its proposal was seen; retrying`);
    const licences: { id: string }[] = await manager.query(
      `SELECT l.id FROM licences l JOIN artefact_links a ON a.platform_version_id = l.version_id::text
       WHERE a.chain_model_id = $1 AND l.host_address = $2 AND l.status = 'active'`,
      [slash.model, slash.host_address],
    );
    for (const { id } of licences) {
      await this.licences.end(id, `slashed on chain (slash ${log.args.slashId}, tx ${log.position?.transactionHash})`);
      this.log.log(`ended licence ${id} of ${slash.host_address}: slash ${log.args.slashId} executed`);
    }
  }

  async onApplicationShutdown() {
    await this.consumer?.stop();
  }
}
