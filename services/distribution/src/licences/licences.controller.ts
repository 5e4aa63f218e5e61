import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Roles } from '@clopen/service-kit';
import { DeliveryService } from '../delivery/delivery.service';
import { EmbeddingService } from '../embedding/embedding.service';
import { LicencesService } from './licences.service';

/** Admin routes; hosts use /host/licences with their signature. */
@ApiTags('licences')
@ApiBearerAuth()
@Roles('admin')
@Controller('licences')
export class LicencesController {
  constructor(private readonly licences: LicencesService, private readonly embedding: EmbeddingService, private readonly delivery: DeliveryService) {}

  @Post()
  @ApiOperation({ summary: 'License a host for a model version (until chain collateral events do it): {"versionId", "hostAddress"}' })
  grant(@Body() body: unknown) {
    return this.licences.grant(body, 'admin');
  }

  @Get()
  @ApiOperation({ summary: 'Licences, filtered by ?versionId=, ?host=, ?status=active|ended' })
  list(@Query() query: Record<string, string>) {
    return this.licences.list(query);
  }

  @Get(':id')
  get(@Param('id', ParseUUIDPipe) id: string) {
    return this.licences.get(id);
  }

  @Post(':id/end')
  @HttpCode(200)
  @ApiOperation({ summary: 'End a licence (unstake, slash, or by hand): {"reason"}; a running embedding is cancelled' })
  end(@Param('id', ParseUUIDPipe) id: string, @Body() body: unknown) {
    return this.licences.end(id, body);
  }

  @Get(':id/embedding')
  @ApiOperation({ summary: "The copy job: state, phase, percent, attempts, failure reason, the stored copy's version" })
  embeddingStatus(@Param('id', ParseUUIDPipe) id: string) {
    return this.embedding.status(id);
  }

  @Post(':id/embedding/cancel')
  @HttpCode(200)
  async cancel(@Param('id', ParseUUIDPipe) id: string) {
    await this.embedding.cancel(id, 'cancelled by an admin');
    return this.embedding.status(id);
  }

  @Post(':id/embedding/retry')
  @HttpCode(202)
  async retry(@Param('id', ParseUUIDPipe) id: string) {
    await this.embedding.retry(id);
    return this.embedding.status(id);
  }

  @Get(':id/deliveries')
  @ApiOperation({ summary: 'Every hand-over of the copy to its host' })
  deliveries(@Param('id', ParseUUIDPipe) id: string) {
    return this.delivery.history(id);
  }
}
