import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { InvalidArgument } from '../errors';
import { ApiKeysService } from './api-keys.service';
import { PRINCIPAL_ID, PRINCIPAL_ID_RULE, ROLES, Roles, type Role } from './roles';

class IssueApiKeyBody {
  @ApiProperty({ example: 'alice' }) principalId: string;
  @ApiProperty({ enum: ROLES, isArray: true, example: ['owner'] }) roles: Role[];
  @ApiPropertyOptional({ example: 'alice laptop' }) label?: string;
}

@ApiTags('api-keys')
@ApiBearerAuth()
@Roles('admin')
@Controller('api-keys')
export class ApiKeysController {
  constructor(private readonly keys: ApiKeysService) {}

  @Post()
  issue(@Body() body: IssueApiKeyBody) {
    if (!body || typeof body.principalId !== 'string' || !Array.isArray(body.roles)) {
      throw new InvalidArgument('body must be {"principalId": string, "roles": [role], "label"?: string}');
    }
    if (!PRINCIPAL_ID.test(body.principalId)) throw new InvalidArgument(`principalId: ${PRINCIPAL_ID_RULE}`);
    return this.keys.issue(body.principalId, body.roles, typeof body.label === 'string' ? body.label : '');
  }

  @Get()
  list() {
    return this.keys.list();
  }

  @Delete(':id')
  @HttpCode(204)
  async revoke(@Param('id', new ParseUUIDPipe()) id: string) {
    await this.keys.revoke(id);
  }
}
