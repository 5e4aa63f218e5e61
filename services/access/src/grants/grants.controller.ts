import { Body, Controller, Get, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, Roles, ZodResponse, type Principal } from '@clopen/service-kit';
import { DataSource } from 'typeorm';
import { UsageService } from '../usage/usage.service';
import { BuyGrantBody, GrantDto, GrantUsageDto, RevokeGrantBody } from './grants.contracts';
import { GrantsService, grantView } from './grants.service';

@ApiTags('grants')
@ApiBearerAuth()
@Roles('user')
@Controller('grants')
export class GrantsController {
  constructor(
    private readonly grants: GrantsService,
    private readonly usage: UsageService,
    private readonly db: DataSource,
  ) {}

  @Post()
  @ApiOperation({
    summary: 'Buy access to a model: a grant bound to your ed25519 key',
    description: 'Sign each request with your key (libs/host-sdk permissionString).',
  })
  @ZodResponse({ status: 201, type: GrantDto })
  async buy(@CurrentPrincipal() principal: Principal, @Body() body: BuyGrantBody) {
    return grantView(await this.grants.buy(principal, body));
  }

  @Get(':id')
  @ZodResponse({ status: 200, type: GrantDto })
  async get(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return grantView(await this.grants.get(principal, id));
  }

  @Get(':id/usage')
  @ApiOperation({ summary: 'Requests and tokens counted from host receipts so far' })
  @ZodResponse({ status: 200, type: GrantUsageDto })
  async usageOf(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string) {
    const g = await this.grants.get(principal, id);
    return this.usage.totals(this.db.manager, g.id);
  }

  @Post(':id/revoke')
  @ApiOperation({ summary: 'Revoke a grant (its user or an admin); hosts refuse it within seconds' })
  @ZodResponse({ status: 200, type: GrantDto })
  async revoke(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string, @Body() body: RevokeGrantBody) {
    return grantView(await this.grants.revoke(principal, id, body.reason));
  }
}
