import { Controller, Get, Param, ParseUUIDPipe } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentHost, HostSigned, ZodResponse } from '@clopen/service-kit';
import { DeliveredCopyDto } from '../delivery/delivery.contracts';
import { DeliveryService } from '../delivery/delivery.service';
import { EmbeddingService } from '../embedding/embedding.service';
import { LicencesService } from '../licences/licences.service';
import { HostLicenceDto } from './host.contracts';

/** What a host sees: its own licences and copies, authenticated by its EVM key. */
@ApiTags('host')
@HostSigned('host', 'distribution')
@Controller('host/licences')
export class HostController {
  constructor(
    private readonly licences: LicencesService,
    private readonly delivery: DeliveryService,
    private readonly embedding: EmbeddingService,
  ) {}

  @Get()
  @ApiOperation({ summary: "The signing host's licences and the state of each copy" })
  @ZodResponse({ status: 200, type: [HostLicenceDto] })
  async list(@CurrentHost() host: string) {
    const licences = await this.licences.forHost(host);
    return Promise.all(licences.map(async (l) => ({ ...l, embedding: await this.embedding.status(l.id) })));
  }

  @Get(':id/copy')
  @ApiOperation({ summary: 'Short-lived download URLs for the copy of an active licence; every call is recorded as a delivery' })
  @ZodResponse({ status: 200, type: DeliveredCopyDto })
  copy(@CurrentHost() host: string, @Param('id', ParseUUIDPipe) id: string) {
    return this.delivery.deliver(host, id);
  }
}
