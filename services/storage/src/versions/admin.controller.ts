import { Controller, HttpCode, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiQuery, ApiTags } from '@nestjs/swagger';
import { InvalidArgument, Roles } from '@clopen/service-kit';
import { ArtefactSweeper } from './artefact-sweeper';

@ApiTags('admin')
@ApiBearerAuth()
@Roles('admin')
@Controller('admin')
export class AdminController {
  constructor(private readonly sweeper: ArtefactSweeper) {}

  /** Runs the orphan sweep now (it also runs every STORAGE_SWEEP_INTERVAL_MINUTES). */
  @Post('sweep-orphans')
  @HttpCode(200)
  @ApiQuery({ name: 'olderThanMinutes', required: false, description: 'defaults to STORAGE_ORPHAN_GRACE_MINUTES' })
  sweep(@Query('olderThanMinutes') olderThanMinutes?: string) {
    const minutes = olderThanMinutes === undefined ? undefined : Number(olderThanMinutes);
    if (minutes !== undefined && (!Number.isFinite(minutes) || minutes < 0)) throw new InvalidArgument('olderThanMinutes must be a non-negative number');
    return this.sweeper.sweep(new Date(Date.now() - (minutes ?? this.sweeper.graceMinutes) * 60_000));
  }
}
