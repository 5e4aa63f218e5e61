import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { create, storageV1 } from '@clopen/proto';
import { toModelMessage } from './models.events';
import { ModelsService } from './models.service';
import { VersionsService } from '../versions/versions.service';

/** Answers `storage.*` queries on NATS for other services. */
@Controller()
export class ModelsHandlers {
  constructor(
    private readonly models: ModelsService,
    private readonly versions: VersionsService,
  ) {}

  @MessagePattern('storage.model.get')
  async getModel(@Payload() req: storageV1.ModelGetRequest): Promise<storageV1.ModelGetResponse> {
    return create(storageV1.ModelGetResponseSchema, { model: toModelMessage(await this.models.get(req.id)) });
  }

  @MessagePattern('storage.version.get')
  async getVersion(@Payload() req: storageV1.VersionGetRequest): Promise<storageV1.VersionGetResponse> {
    return create(storageV1.VersionGetResponseSchema, { version: await this.versions.getMessage(req.id) });
  }
}
