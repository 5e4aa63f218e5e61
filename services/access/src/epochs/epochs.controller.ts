import { Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { Conflict, Roles, parseInput } from '@clopen/service-kit';
import { EpochsService } from './epochs.service';

const ProofQuery = z.object({ grantId: z.string().uuid(), counter: z.string().regex(/^\d+$/) });
const ListQuery = z.object({ before: z.coerce.number().int().min(1).optional(), limit: z.coerce.number().int().min(1).max(1000).default(100) }).strict();

@ApiTags('epochs')
@ApiBearerAuth()
@Controller()
export class EpochsController {
  constructor(private readonly epochs: EpochsService) {}

  @Post('admin/epochs/close')
  @HttpCode(201)
  @Roles('admin')
  @ApiOperation({ summary: 'Close the open epoch now (it also closes every ACCESS_EPOCH_SECONDS)' })
  async close() {
    const epoch = await this.epochs.close();
    if (!epoch) throw new Conflict('no receipt arrived since the last epoch (or another replica is closing it)');
    return epoch;
  }

  @Get('epochs')
  @Roles('host', 'user')
  @ApiOperation({ summary: 'Closed epochs, newest first: number, time range, receipt count, Merkle root; ?before=<number>&limit= (default 100, at most 1000)' })
  list(@Query() query: Record<string, string>) {
    return this.epochs.list(parseInput(ListQuery, query, 'query'));
  }

  @Get('epochs/proof')
  @Roles('host', 'user')
  @ApiOperation({ summary: "A receipt's inclusion proof in its epoch's root: ?grantId=&counter=" })
  proof(@Query() query: Record<string, string>) {
    const q = parseInput(ProofQuery, query, 'query');
    return this.epochs.proof(q.grantId, q.counter);
  }
}
