import { Controller, Get, Param, ParseUUIDPipe, UseGuards } from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
import { HOST_AUTH_HEADER } from '@clopen/host-auth';
import { CurrentHost, HostAuthGuard, Public } from '@clopen/service-kit';
import { DeliveryService } from '../delivery/delivery.service';
import { EmbeddingService } from '../embedding/embedding.service';
import { LicencesService } from '../licences/licences.service';

/** What a host sees: its own licences and copies, authenticated by its EVM key. */
@ApiTags('host')
@ApiHeader({ name: HOST_AUTH_HEADER, required: true, description: 'EIP-191 signature of the request by the host address (see libs/host-auth/README.md)' })
@Public()
@UseGuards(HostAuthGuard)
@Controller('host/licences')
export class HostController {
  constructor(private readonly licences: LicencesService, private readonly delivery: DeliveryService, private readonly embedding: EmbeddingService) {}

  @Get()
  @ApiOperation({ summary: "The signing host's licences and the state of each copy" })
  async list(@CurrentHost() host: string) {
    const licences = await this.licences.forHost(host);
    return Promise.all(licences.map(async (l) => ({ ...l, embedding: await this.embedding.status(l.id) })));
  }

  @Get(':id/copy')
  @ApiOperation({ summary: 'Short-lived download URLs for the copy of an active licence; every call is recorded as a delivery' })
  copy(@CurrentHost() host: string, @Param('id', ParseUUIDPipe) id: string) {
    return this.delivery.deliver(host, id);
  }
}
