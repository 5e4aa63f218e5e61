import { Body, Controller, Get, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, Roles, type Principal } from '@clopen/service-kit';
import { TracingService } from './tracing.service';

@ApiTags('tracing')
@ApiBearerAuth()
@Roles('prover')
@Controller()
export class TracingController {
  constructor(private readonly tracing: TracingService) {}

  @Post('versions/:versionId/challenges')
  @ApiOperation({ summary: 'Pool keys to ask a suspect model, never handed out before: {"keys"?: n} (default: what one trace needs)' })
  challenge(@CurrentPrincipal() principal: Principal, @Param('versionId', ParseUUIDPipe) versionId: string, @Body() body: unknown) {
    return this.tracing.challenge(principal, versionId, body);
  }

  @Post('challenges/:id/trace')
  @ApiOperation({ summary: "Score every host against the suspect's outputs: {\"responses\": [{\"index\", \"output\"}]}; accuses at the stated false-accusation rate" })
  trace(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string, @Body() body: unknown) {
    return this.tracing.trace(principal, id, body);
  }

  @Get('traces/:id')
  get(@Param('id', ParseUUIDPipe) id: string) {
    return this.tracing.get(id);
  }
}
