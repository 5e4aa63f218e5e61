import { Body, Controller, Get, Post, UseGuards } from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { HOST_AUTH_HEADER } from '@clopen/host-auth';
import { Conflict, CurrentHost, HostAuthGuard, Public, parseInput } from '@clopen/service-kit';
import { ServingKey } from './serving-key.entity';

const RegisterKeyInput = z.object({ keyId: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/), publicKey: z.string().length(43) }).strict();

/** A host registers the ed25519 keys it signs receipts with, proving its EVM address by signature. */
@ApiTags('hosts')
@ApiHeader({ name: HOST_AUTH_HEADER, required: true, description: 'EIP-191 signature of the request by the host address (libs/host-auth), audience "access"' })
@Public()
@UseGuards(HostAuthGuard)
@Controller('hosts/serving-keys')
export class HostsController {
  constructor(private readonly db: DataSource) {}

  @Post()
  @ApiOperation({ summary: 'Register a serving key: {"keyId", "publicKey": base64url of 32 bytes}' })
  async register(@CurrentHost() host: string, @Body() body: unknown) {
    const input = parseInput(RegisterKeyInput, body);
    const repo = this.db.getRepository(ServingKey);
    const existing = await repo.findOneBy({ hostAddress: host, keyId: input.keyId });
    if (existing && existing.publicKey !== input.publicKey) throw new Conflict(`host ${host} already registered key "${input.keyId}" with another public key; use a new key id`);
    return existing ?? repo.save(repo.create({ hostAddress: host, keyId: input.keyId, publicKey: input.publicKey }));
  }

  @Get()
  list(@CurrentHost() host: string) {
    return this.db.getRepository(ServingKey).findBy({ hostAddress: host });
  }
}
