import { Controller, HttpCode, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiExtension, ApiTags } from '@nestjs/swagger';
import { Roles, ZodResponse } from '@clopen/service-kit';
import { ArtefactSweeper } from './artefact-sweeper';
import { SweepQuery, SweepResultDto } from './versions.contracts';

@ApiTags('admin')
@ApiBearerAuth()
@Roles('admin')
@Controller('admin')
export class AdminController {
  constructor(private readonly sweeper: ArtefactSweeper) {}

  /** Runs the orphan sweep now (it also runs every STORAGE_SWEEP_INTERVAL_MINUTES). */
  @Post('sweep-orphans')
  @HttpCode(200)
  @ApiExtension('x-clopen-no-body', true)
  @ZodResponse({ status: 200, type: SweepResultDto })
  sweep(@Query() query: SweepQuery) {
    return this.sweeper.sweep(new Date(Date.now() - (query.olderThanMinutes ?? this.sweeper.graceMinutes) * 60_000));
  }
}
