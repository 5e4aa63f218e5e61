import { Body, Controller, Get, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiExtension, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, Roles, ZodResponse, type Principal } from '@clopen/service-kit';
import { CreatePoolBody, KeyRotationDto, PoolDto } from './pools.contracts';
import { PoolsService, poolView } from './pools.service';

@ApiTags('pools')
@ApiBearerAuth()
@Controller()
export class PoolsController {
  constructor(private readonly pools: PoolsService) {}

  @Post('versions/:versionId/pool')
  @Roles('owner')
  @ApiOperation({
    summary: "Generate the version's fingerprint pool (once), sized to trace coalitions of up to `coalition` among `hosts` hosts",
    description: 'Generation runs on an embedder; poll GET for status.',
  })
  @ZodResponse({ status: 202, type: PoolDto })
  async create(@CurrentPrincipal() principal: Principal, @Param('versionId', ParseUUIDPipe) versionId: string, @Body() body: CreatePoolBody) {
    return poolView(await this.pools.create(principal, versionId, body));
  }

  @Get('versions/:versionId/pool')
  @Roles('owner', 'prover')
  @ApiOperation({ summary: "The pool's status, plan and Merkle commitment; never its entries" })
  @ZodResponse({ status: 200, type: PoolDto })
  async get(@CurrentPrincipal() principal: Principal, @Param('versionId', ParseUUIDPipe) versionId: string) {
    return poolView(await this.pools.get(principal, versionId));
  }

  @Post('admin/pools/rotate-keys')
  @Roles('admin')
  @ApiOperation({ summary: 'Re-seal every pool under the first key of DISTRIBUTION_POOL_KEYS; then older keys can be dropped' })
  @ApiExtension('x-clopen-no-body', true)
  @ZodResponse({ status: 200, type: KeyRotationDto })
  rotate() {
    return this.pools.rotateKeys();
  }
}
