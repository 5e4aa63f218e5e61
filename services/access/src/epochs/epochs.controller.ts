import { Controller, Get, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiExtension, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Conflict, Roles, ZodResponse } from '@clopen/service-kit';
import { EpochDto, ListEpochsQuery, ReceiptProofDto, ReceiptProofQuery } from './epochs.contracts';
import { EpochsService } from './epochs.service';

@ApiTags('epochs')
@ApiBearerAuth()
@Controller()
export class EpochsController {
  constructor(private readonly epochs: EpochsService) {}

  @Post('admin/epochs/close')
  @Roles('admin')
  @ApiOperation({ summary: 'Close the open epoch now (it also closes every ACCESS_EPOCH_SECONDS)' })
  @ApiExtension('x-clopen-no-body', true)
  @ZodResponse({ status: 201, type: EpochDto })
  async close() {
    const epoch = await this.epochs.close();
    if (!epoch) throw new Conflict('no receipt arrived since the last epoch (or another replica is closing it)');
    return epoch;
  }

  @Get('epochs')
  @Roles('host', 'user')
  @ApiOperation({ summary: 'Closed epochs, newest first: number, time range, receipt count, Merkle root' })
  @ZodResponse({ status: 200, type: [EpochDto] })
  list(@Query() query: ListEpochsQuery) {
    return this.epochs.list(query);
  }

  @Get('epochs/proof')
  @Roles('host', 'user')
  @ApiOperation({ summary: "A receipt's inclusion proof in its epoch's root" })
  @ZodResponse({ status: 200, type: ReceiptProofDto })
  proof(@Query() query: ReceiptProofQuery) {
    return this.epochs.proof(query.grantId, query.counter);
  }
}
