import { Module } from '@nestjs/common';
import { ModelsController } from './models/models.controller';
import { ModelsHandlers } from './models/models.handlers';
import { ModelsService } from './models/models.service';
import { ArtefactSweeper } from './versions/artefact-sweeper';
import { AdminController } from './versions/admin.controller';
import { VersionsController } from './versions/versions.controller';
import { VersionsService } from './versions/versions.service';

@Module({
  controllers: [ModelsController, VersionsController, AdminController, ModelsHandlers],
  providers: [ModelsService, VersionsService, ArtefactSweeper],
})
export class StorageModule {}
