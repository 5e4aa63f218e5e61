import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { ZodResponse } from '../contracts';
import { ApiKeyDto, IssueApiKeyBody, IssuedApiKeyDto } from './api-keys.contracts';
import { ApiKeysService } from './api-keys.service';
import { Roles } from './roles';

@ApiTags('api-keys')
@ApiBearerAuth()
@Roles('admin')
@Controller('api-keys')
export class ApiKeysController {
  constructor(private readonly keys: ApiKeysService) {}

  @Post()
  @ZodResponse({ status: 201, type: IssuedApiKeyDto })
  issue(@Body() body: IssueApiKeyBody) {
    return this.keys.issue(body.principalId, body.roles, body.label ?? '');
  }

  @Get()
  @ZodResponse({ status: 200, type: [ApiKeyDto] })
  list() {
    return this.keys.list();
  }

  @Delete(':id')
  @HttpCode(204)
  async revoke(@Param('id', new ParseUUIDPipe()) id: string) {
    await this.keys.revoke(id);
  }
}
