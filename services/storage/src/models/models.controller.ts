import { Body, Controller, Get, Param, Post, Query, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiExtraModels, ApiTags, getSchemaPath } from '@nestjs/swagger';
import { CurrentPrincipal, Roles, ZodResponse, type Principal } from '@clopen/service-kit';
import type { IncomingMessage } from 'node:http';
import { UploadMetadataDto, VersionDto } from '../versions/versions.contracts';
import { VersionsService } from '../versions/versions.service';
import { ListModelsQuery, ModelDto, RegisterModelBody } from './models.contracts';
import { ModelsService } from './models.service';

@ApiTags('models')
@ApiBearerAuth()
@Controller('models')
export class ModelsController {
  constructor(
    private readonly models: ModelsService,
    private readonly versions: VersionsService,
  ) {}

  @Post()
  @Roles('owner')
  @ZodResponse({ status: 201, type: ModelDto })
  register(@CurrentPrincipal() principal: Principal, @Body() body: RegisterModelBody) {
    return this.models.register(principal, body);
  }

  @Get()
  @ZodResponse({ status: 200, type: [ModelDto] })
  list(@Query() query: ListModelsQuery) {
    return this.models.list(query);
  }

  @Get(':id')
  @ZodResponse({ status: 200, type: ModelDto })
  get(@Param('id') id: string) {
    return this.models.get(id);
  }

  @Get(':id/versions')
  @ZodResponse({ status: 200, type: [VersionDto] })
  listVersions(@Param('id') id: string) {
    return this.versions.listForModel(id);
  }

  @Post(':id/versions')
  @Roles('owner')
  @ApiConsumes('multipart/form-data')
  @ApiExtraModels(UploadMetadataDto)
  @ApiBody({
    description:
      'A "metadata" field first: {"label","kind","parents","licence","files":[{"path","size","sha256"}]}; then one file part per file of the model folder (config.json, model.safetensors or shards + index, tokenizer files).',
    schema: {
      type: 'object',
      properties: {
        // An object part of a multipart body is sent as application/json (OpenAPI's default encoding).
        metadata: { $ref: getSchemaPath(UploadMetadataDto) },
        files: { type: 'array', items: { type: 'string', format: 'binary' } },
      },
    },
  })
  @ZodResponse({ status: 201, type: VersionDto })
  publish(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Req() req: IncomingMessage) {
    return this.versions.publishFromUpload(principal, id, req);
  }
}
