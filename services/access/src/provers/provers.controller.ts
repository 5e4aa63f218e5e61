import { Body, Controller, Get, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiExtension, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentHost, CurrentPrincipal, HostSigned, Roles, ZodResponse, type Principal } from '@clopen/service-kit';
import {
  ChallengeDto,
  ChallengeRequestBody,
  ProofBody,
  ProofVerdictDto,
  ProverDto,
  RegisterProverBody,
  ViolationDto,
  ViolationWithEvidenceDto,
} from './provers.contracts';
import { ProversService } from './provers.service';

/** Admins keep the registry of provers and read what they proved. */
@ApiTags('provers')
@ApiBearerAuth()
@Roles('admin')
@Controller()
export class ProversController {
  constructor(private readonly provers: ProversService) {}

  @Post('provers')
  @ApiOperation({ summary: 'Register a prover; it signs its requests with the key of its address' })
  @ZodResponse({ status: 201, type: ProverDto })
  register(@Body() body: RegisterProverBody) {
    return this.provers.register(body);
  }

  @Get('provers')
  @ZodResponse({ status: 200, type: [ProverDto] })
  list() {
    return this.provers.list();
  }

  @Post('provers/:address/revoke')
  @ApiExtension('x-clopen-no-body', true)
  @ZodResponse({ status: 201, type: ProverDto })
  revoke(@Param('address') address: string) {
    return this.provers.revoke(address);
  }

  @Get('violations')
  @ApiOperation({ summary: 'Proven violations, newest first (without their evidence)' })
  @ZodResponse({ status: 200, type: [ViolationDto] })
  violations() {
    return this.provers.violations();
  }

  @Get('violations/:id')
  @ZodResponse({ status: 200, type: ViolationWithEvidenceDto })
  violation(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return this.provers.violation(principal, undefined, id);
  }
}

/** What a registered prover does, authenticated by its EVM key (libs/host-auth, audience "access"). */
@ApiTags('provers')
@HostSigned('prover', 'access')
@Controller('prover')
export class ProverController {
  constructor(private readonly provers: ProversService) {}

  @Post('challenges')
  @ApiOperation({
    summary:
      'A challenge for an endpoint → queries (request bodies) to POST to <endpoint>/v1/completions without a permission string; fingerprint keys and decoys look alike',
  })
  @ZodResponse({ status: 201, type: ChallengeDto })
  challenge(@CurrentHost() prover: string, @Body() body: ChallengeRequestBody) {
    return this.provers.challenge(prover, body);
  }

  @Post('challenges/:id/proof')
  @ApiOperation({
    summary: 'What the endpoint answered → the verdict; a proven violation is published as access.violation.proven',
  })
  @ZodResponse({ status: 201, type: ProofVerdictDto })
  prove(@CurrentHost() prover: string, @Param('id', ParseUUIDPipe) id: string, @Body() body: ProofBody) {
    return this.provers.prove(prover, id, body);
  }

  @Get('violations/:id')
  @ZodResponse({ status: 200, type: ViolationWithEvidenceDto })
  violation(@CurrentHost() prover: string, @Param('id', ParseUUIDPipe) id: string) {
    return this.provers.violation(undefined, prover, id);
  }
}
