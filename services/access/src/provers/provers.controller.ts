import { Body, Controller, Get, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentHost, CurrentPrincipal, HostSigned, Roles, type Principal } from '@clopen/service-kit';
import { ProversService } from './provers.service';

/** Admins keep the registry of provers and read what they proved. */
@ApiTags('provers')
@ApiBearerAuth()
@Roles('admin')
@Controller()
export class ProversController {
  constructor(private readonly provers: ProversService) {}

  @Post('provers')
  @ApiOperation({ summary: 'Register a prover: {"address": its EVM address, "name"}; it signs its requests with that key' })
  register(@Body() body: unknown) {
    return this.provers.register(body);
  }

  @Get('provers')
  list() {
    return this.provers.list();
  }

  @Post('provers/:address/revoke')
  revoke(@Param('address') address: string) {
    return this.provers.revoke(address);
  }

  @Get('violations')
  @ApiOperation({ summary: 'Proven violations, newest first (without their evidence)' })
  violations() {
    return this.provers.violations();
  }

  @Get('violations/:id')
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
      'A challenge for an endpoint: {"versionId", "endpoint", "keys"?} → queries (request bodies) to POST to <endpoint>/v1/completions without a permission string; fingerprint keys and decoys look alike',
  })
  challenge(@CurrentHost() prover: string, @Body() body: unknown) {
    return this.provers.challenge(prover, body);
  }

  @Post('challenges/:id/proof')
  @ApiOperation({
    summary:
      'What the endpoint answered: {"answers": [{"queryId", "status", "body" (as received), "receipt"? (x-clopen-receipt)}]} → the verdict; a proven violation is published as access.violation.proven',
  })
  prove(@CurrentHost() prover: string, @Param('id', ParseUUIDPipe) id: string, @Body() body: unknown) {
    return this.provers.prove(prover, id, body);
  }

  @Get('violations/:id')
  violation(@CurrentHost() prover: string, @Param('id', ParseUUIDPipe) id: string) {
    return this.provers.violation(undefined, prover, id);
  }
}
