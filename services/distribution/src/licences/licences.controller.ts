import { Body, Controller, Get, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiExtension, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Roles, ZodResponse } from '@clopen/service-kit';
import { DeliveryDto } from '../delivery/delivery.contracts';
import { DeliveryService } from '../delivery/delivery.service';
import { EmbeddingStatusDto } from '../embedding/embedding.contracts';
import { EmbeddingService } from '../embedding/embedding.service';
import { EndLicenceBody, GrantLicenceBody, LicenceDto, ListLicencesQuery } from './licences.contracts';
import { LicencesService } from './licences.service';

/** Admin routes; hosts use /host/licences with their signature. */
@ApiTags('licences')
@ApiBearerAuth()
@Roles('admin')
@Controller('licences')
export class LicencesController {
  constructor(
    private readonly licences: LicencesService,
    private readonly embedding: EmbeddingService,
    private readonly delivery: DeliveryService,
  ) {}

  @Post()
  @ApiOperation({ summary: 'License a host for a model version (until chain collateral events do it)' })
  @ZodResponse({ status: 201, type: LicenceDto })
  grant(@Body() body: GrantLicenceBody) {
    return this.licences.grant(body, 'admin');
  }

  @Get()
  @ApiOperation({ summary: 'Licences, filtered by version, host and status' })
  @ZodResponse({ status: 200, type: [LicenceDto] })
  list(@Query() query: ListLicencesQuery) {
    return this.licences.list(query);
  }

  @Get(':id')
  @ZodResponse({ status: 200, type: LicenceDto })
  get(@Param('id', ParseUUIDPipe) id: string) {
    return this.licences.get(id);
  }

  @Post(':id/end')
  @ApiOperation({ summary: 'End a licence (unstake, slash, or by hand); a running embedding is cancelled' })
  @ZodResponse({ status: 200, type: LicenceDto })
  end(@Param('id', ParseUUIDPipe) id: string, @Body() body: EndLicenceBody) {
    return this.licences.end(id, body.reason);
  }

  @Get(':id/embedding')
  @ApiOperation({ summary: "The copy job: state, phase, percent, attempts, failure reason, the stored copy's version" })
  @ZodResponse({ status: 200, type: EmbeddingStatusDto })
  embeddingStatus(@Param('id', ParseUUIDPipe) id: string) {
    return this.embedding.status(id);
  }

  @Post(':id/embedding/cancel')
  @ApiExtension('x-clopen-no-body', true)
  @ZodResponse({ status: 200, type: EmbeddingStatusDto })
  async cancel(@Param('id', ParseUUIDPipe) id: string) {
    await this.embedding.cancel(id, 'cancelled by an admin');
    return this.embedding.status(id);
  }

  @Post(':id/embedding/retry')
  @ApiExtension('x-clopen-no-body', true)
  @ZodResponse({ status: 202, type: EmbeddingStatusDto })
  async retry(@Param('id', ParseUUIDPipe) id: string) {
    await this.embedding.retry(id);
    return this.embedding.status(id);
  }

  @Get(':id/deliveries')
  @ApiOperation({ summary: 'Every hand-over of the copy to its host' })
  @ZodResponse({ status: 200, type: [DeliveryDto] })
  deliveries(@Param('id', ParseUUIDPipe) id: string) {
    return this.delivery.history(id);
  }
}
