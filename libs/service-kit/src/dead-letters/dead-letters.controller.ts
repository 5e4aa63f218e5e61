import { Controller, Get, Inject, Param, ParseIntPipe, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiExtension, ApiTags } from '@nestjs/swagger';
import {
  Bus,
  DeadLetterNotFound,
  DeadLetterNotRedrivable,
  ProcessedMessage,
  errorText,
  listDeadLetters,
  redriveDeadLetter,
  type DeadLetter,
} from '@clopen/bus';
import { DataSource, In } from 'typeorm';
import { KIT_OPTIONS } from '../auth/api-keys.service';
import { Roles } from '../auth/roles';
import { ZodResponse } from '../contracts';
import { Conflict, NotFound } from '../errors';
import { DeadLetterDto, DeadLetterPageDto, ListDeadLettersQuery, RedriveResultDto } from './dead-letters.contracts';

/**
 * The service's dead letters: the events its consumers gave up on, with why, and their redrive
 * through the same consumer (libs/bus consumer/dead-letters.ts). Every service with consumers has
 * these routes; `clopen dead-letters` drives them.
 */
@ApiTags('dead-letters')
@ApiBearerAuth()
@Roles('admin')
@Controller('admin/dead-letters')
export class DeadLettersController {
  constructor(
    private readonly bus: Bus,
    private readonly db: DataSource,
    @Inject(KIT_OPTIONS) private readonly kit: { name: string },
  ) {}

  @Get()
  @ZodResponse({ status: 200, type: DeadLetterPageDto })
  async list(@Query() query: ListDeadLettersQuery) {
    const page = await listDeadLetters(this.bus, { consumer: this.kit.name, subject: query.subject, after: query.after, limit: query.limit });
    const handled = await this.handled(page.deadLetters);
    const deadLetters = page.deadLetters
      .map((d) => ({ ...d, handled: handled.has(d.envelope?.id ?? '') }))
      .filter((d) => query.unhandled !== 'true' || !d.handled);
    return { deadLetters, ...(page.next !== undefined ? { next: page.next } : {}) };
  }

  @Get(':seq')
  @ZodResponse({ status: 200, type: DeadLetterDto })
  async get(@Param('seq', ParseIntPipe) seq: number) {
    const [letter] = (await listDeadLetters(this.bus, { consumer: this.kit.name, after: seq - 1, limit: 1, scan: 1 })).deadLetters;
    if (!letter || letter.seq !== seq) throw new NotFound(`no dead letter ${seq} of ${this.kit.name}`);
    return { ...letter, handled: (await this.handled([letter])).size > 0 };
  }

  /** Runs the event again through the consumer that gave up on it; once handled, a second redrive does nothing. */
  @Post(':seq/redrive')
  @ApiExtension('x-clopen-no-body', true)
  @ZodResponse({ status: 200, type: RedriveResultDto })
  async redrive(@Param('seq', ParseIntPipe) seq: number) {
    try {
      const { deadLetter, outcome } = await redriveDeadLetter(this.bus, seq, this.kit.name);
      return { deadLetter: { ...deadLetter, handled: true }, outcome };
    } catch (e) {
      if (e instanceof DeadLetterNotFound) throw new NotFound(e.message);
      if (e instanceof DeadLetterNotRedrivable) throw new Conflict(e.message);
      throw new Conflict(`redriving dead letter ${seq} failed again: ${errorText(e)}; it stays in the DLQ`, { reason: errorText(e) });
    }
  }

  private async handled(letters: DeadLetter[]): Promise<Set<string>> {
    const ids = letters.map((d) => d.envelope?.id).filter((id): id is string => !!id);
    if (!ids.length) return new Set();
    const rows = await this.db.getRepository(ProcessedMessage).findBy({ consumer: this.kit.name, messageId: In(ids) });
    return new Set(rows.map((r) => r.messageId));
  }
}
