import { Body, Controller, Get, Param, Post, Query, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiProperty, ApiPropertyOptional, ApiQuery, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, Roles, type Principal } from '@clopen/service-kit';
import type { IncomingMessage } from 'node:http';
import { VersionsService } from '../versions/versions.service';
import { ModelsService } from './models.service';

class RegisterModelBody {
  @ApiProperty({ example: 'tiny-gpt' }) name: string;
  @ApiPropertyOptional({ example: 'A small base model trained offline' }) description?: string;
  @ApiPropertyOptional({ description: 'admins only: register for this owner' }) ownerId?: string;
}

@ApiTags('models')
@ApiBearerAuth()
@Controller('models')
export class ModelsController {
  constructor(private readonly models: ModelsService, private readonly versions: VersionsService) {}

  @Post()
  @Roles('owner')
  register(@CurrentPrincipal() principal: Principal, @Body() body: RegisterModelBody) {
    return this.models.register(principal, body ?? ({} as RegisterModelBody));
  }

  @Get()
  @ApiQuery({ name: 'ownerId', required: false })
  @ApiQuery({ name: 'after', required: false, description: 'id of the last model of the previous page' })
  @ApiQuery({ name: 'limit', required: false })
  list(@Query('ownerId') ownerId?: string, @Query('after') after?: string, @Query('limit') limit?: string) {
    return this.models.list({ ownerId, after, limit: limit ? Number(limit) || undefined : undefined });
  }

  @Get(':id')
  get(@Param('id') id: string) {
    return this.models.get(id);
  }

  @Get(':id/versions')
  listVersions(@Param('id') id: string) {
    return this.versions.listForModel(id);
  }

  @Post(':id/versions')
  @Roles('owner')
  @ApiConsumes('multipart/form-data')
  @ApiBody({
    description:
      'A "metadata" field first: {"label","kind","parents","licence","files":[{"path","size","sha256"}]}; then one file part per file of the model folder (config.json, model.safetensors or shards + index, tokenizer files).',
    schema: { type: 'object', properties: { metadata: { type: 'string' }, files: { type: 'array', items: { type: 'string', format: 'binary' } } } },
  })
  publish(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Req() req: IncomingMessage) {
    return this.versions.publishFromUpload(principal, id, req);
  }
}
