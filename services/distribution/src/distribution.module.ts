import { Module } from '@nestjs/common';
import { DeliveryService } from './delivery/delivery.service';
import { EmbeddingQueue } from './embedding/embedding.queue';
import { EmbeddingService } from './embedding/embedding.service';
import { HostAuthGuard } from './hosts/host-auth.guard';
import { HostController } from './hosts/host.controller';
import { LicencesController } from './licences/licences.controller';
import { LicencesService } from './licences/licences.service';
import { AssignmentsService } from './pools/assignments.service';
import { PoolsController } from './pools/pools.controller';
import { PoolsService } from './pools/pools.service';
import { Catalogue } from './storage/catalogue';
import { TracingController } from './tracing/tracing.controller';
import { TracingService } from './tracing/tracing.service';

@Module({
  controllers: [PoolsController, LicencesController, HostController, TracingController],
  providers: [Catalogue, EmbeddingQueue, PoolsService, AssignmentsService, EmbeddingService, LicencesService, DeliveryService, TracingService, HostAuthGuard],
})
export class DistributionModule {}
