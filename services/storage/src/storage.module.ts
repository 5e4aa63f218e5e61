import { Module } from '@nestjs/common';
import { ModelsController } from './models/models.controller';
import { ModelsHandlers } from './models/models.handlers';
import { ModelsService } from './models/models.service';
import { VersionsController } from './versions/versions.controller';
import { VersionsService } from './versions/versions.service';

@Module({
  controllers: [ModelsController, VersionsController, ModelsHandlers],
  providers: [ModelsService, VersionsService],
})
export class StorageModule {}
