import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { CONFIG, Public, ZodResponse } from '@clopen/service-kit';
import type { AccessConfig } from '../access.settings';
import { IssuerKeyDto } from './issuers.contracts';

@ApiTags('issuers')
@Public()
@Controller('issuers')
export class IssuersController {
  constructor(@Inject(CONFIG) private readonly config: AccessConfig) {}

  @Get()
  @ApiOperation({ summary: 'Public keys that sign grants (ed25519, base64url); hosts load them to verify permission strings' })
  @ZodResponse({ status: 200, type: [IssuerKeyDto] })
  list() {
    const ring = this.config.ACCESS_ISSUER_KEYS;
    return ring.keys.map((k) => ({ keyId: k.id, publicKey: k.publicKey.toString('base64url'), current: k.id === ring.current.id }));
  }
}
