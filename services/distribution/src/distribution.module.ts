import { Module } from '@nestjs/common';
import Redis from 'ioredis';
import { DataSource } from 'typeorm';
import { ArtefactLinks } from '@clopen/model-links';
import { RedisNonceStore } from '@clopen/host-auth';
import { CONFIG, HOST_AUTH, HostAuthGuard, type HostAuthOptions } from '@clopen/service-kit';
import type { DistributionConfig } from './distribution.settings';
import { DeliveryService } from './delivery/delivery.service';
import { EmbeddingQueue } from './embedding/embedding.queue';
import { EmbeddingService } from './embedding/embedding.service';
import { HostController } from './hosts/host.controller';
import { LicencesController } from './licences/licences.controller';
import { LicencesService } from './licences/licences.service';
import { ChainLicences } from './licences/chain-licences';
import { AssignmentsService } from './pools/assignments.service';
import { PoolsController } from './pools/pools.controller';
import { PoolsService } from './pools/pools.service';
import { Catalogue } from './storage/catalogue';
import { TracingController } from './tracing/tracing.controller';
import { TracingHandlers } from './tracing/tracing.handlers';
import { TracingService } from './tracing/tracing.service';

@Module({
  controllers: [PoolsController, LicencesController, HostController, TracingController, TracingHandlers],
  providers: [
    Catalogue,
    EmbeddingQueue,
    PoolsService,
    AssignmentsService,
    EmbeddingService,
    LicencesService,
    ChainLicences,
    { provide: ArtefactLinks, inject: [DataSource], useFactory: (db: DataSource) => new ArtefactLinks(db) },
    DeliveryService,
    TracingService,
    HostAuthGuard,
    {
      provide: HOST_AUTH,
      inject: [Redis, CONFIG],
      useFactory: (redis: Redis, config: DistributionConfig): HostAuthOptions => ({
        audience: 'distribution',
        nonceStore: new RedisNonceStore(redis, `${config.BULLMQ_PREFIX}:host-nonce:`),
        maxTtlSeconds: config.HOST_AUTH_MAX_TTL_SECONDS,
      }),
    },
  ],
})
export class DistributionModule {}
