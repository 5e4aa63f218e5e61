import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, Roles, type Principal } from '@clopen/service-kit';
import { DataSource } from 'typeorm';
import { UsageService } from '../usage/usage.service';
import { GrantsService, grantView } from './grants.service';

@ApiTags('grants')
@ApiBearerAuth()
@Roles('user')
@Controller('grants')
export class GrantsController {
  constructor(private readonly grants: GrantsService, private readonly usage: UsageService, private readonly db: DataSource) {}

  @Post()
  @ApiOperation({
    summary: 'Buy access to a model: a grant bound to your ed25519 key',
    description: 'Body: {"modelId", "userPublicKey": base64url of 32 bytes, "quota": {"requests"?, "tokens"?}, "days", "hosts"?: [address]}. Sign each request with your key (libs/host-sdk permissionString).',
  })
  async buy(@CurrentPrincipal() principal: Principal, @Body() body: unknown) {
    return grantView(await this.grants.buy(principal, body));
  }

  @Get(':id')
  async get(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return grantView(await this.grants.get(principal, id));
  }

  @Get(':id/usage')
  @ApiOperation({ summary: 'Requests and tokens counted from host receipts so far' })
  async usageOf(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string) {
    const g = await this.grants.get(principal, id);
    return this.usage.totals(this.db.manager, g.id);
  }

  @Post(':id/revoke')
  @HttpCode(200)
  @ApiOperation({ summary: 'Revoke a grant (its user or an admin): {"reason"}; hosts refuse it within seconds' })
  async revoke(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string, @Body() body: unknown) {
    return grantView(await this.grants.revoke(principal, id, body));
  }
}
