import { Body, Controller, Get, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, Roles, ZodResponse, type Principal } from '@clopen/service-kit';
import { ChallengeDto, ChallengeRequestBody, TraceDto, TraceRequestBody } from './tracing.contracts';
import { TracingService } from './tracing.service';

@ApiTags('tracing')
@ApiBearerAuth()
@Roles('prover')
@Controller()
export class TracingController {
  constructor(private readonly tracing: TracingService) {}

  @Post('versions/:versionId/challenges')
  @ApiOperation({ summary: 'Pool keys to ask a suspect model, never handed out before (default: what one trace needs)' })
  @ZodResponse({ status: 201, type: ChallengeDto })
  challenge(@CurrentPrincipal() principal: Principal, @Param('versionId', ParseUUIDPipe) versionId: string, @Body() body: ChallengeRequestBody) {
    return this.tracing.challenge(principal, versionId, body);
  }

  @Post('challenges/:id/trace')
  @ApiOperation({ summary: "Score every host against the suspect's outputs; accuses at the stated false-accusation rate" })
  @ZodResponse({ status: 201, type: TraceDto })
  trace(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string, @Body() body: TraceRequestBody) {
    return this.tracing.trace(principal, id, body);
  }

  @Get('traces/:id')
  @ZodResponse({ status: 200, type: TraceDto })
  get(@Param('id', ParseUUIDPipe) id: string) {
    return this.tracing.get(id);
  }
}
