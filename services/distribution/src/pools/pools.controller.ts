import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, Roles, type Principal } from '@clopen/service-kit';
import { PoolsService, poolView } from './pools.service';

@ApiTags('pools')
@ApiBearerAuth()
@Controller()
export class PoolsController {
  constructor(private readonly pools: PoolsService) {}

  @Post('versions/:versionId/pool')
  @HttpCode(202)
  @Roles('owner')
  @ApiOperation({
    summary: "Generate the version's fingerprint pool (once), sized to trace coalitions of up to `coalition` among `hosts` hosts",
    description: 'Body: {"hosts": N, "coalition": K, "keyStrategy": "english"|"random", "responseStrategy": "perinucleus"|"random", "keyLength", "size"?}. Generation runs on an embedder; poll GET for status.',
  })
  async create(@CurrentPrincipal() principal: Principal, @Param('versionId', ParseUUIDPipe) versionId: string, @Body() body: unknown) {
    return poolView(await this.pools.create(principal, versionId, body));
  }

  @Get('versions/:versionId/pool')
  @Roles('owner', 'prover')
  @ApiOperation({ summary: "The pool's status, plan and Merkle commitment; never its entries" })
  async get(@CurrentPrincipal() principal: Principal, @Param('versionId', ParseUUIDPipe) versionId: string) {
    return poolView(await this.pools.get(principal, versionId));
  }

  @Post('admin/pools/rotate-keys')
  @HttpCode(200)
  @Roles('admin')
  @ApiOperation({ summary: 'Re-seal every pool under the first key of DISTRIBUTION_POOL_KEYS; then older keys can be dropped' })
  rotate() {
    return this.pools.rotateKeys();
  }
}
