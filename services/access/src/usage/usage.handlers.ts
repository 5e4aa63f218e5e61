import { Controller } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { BusContext } from '@clopen/bus';
import type { accessV1 } from '@clopen/proto';
import { UsageService } from './usage.service';

/** Receipts arrive on JetStream from hosts and partners; a batch is ingested in the consumer's transaction. */
@Controller()
export class UsageHandlers {
  constructor(private readonly usage: UsageService) {}

  @EventPattern('access.usage.reported')
  async reported(@Payload() event: accessV1.UsageReported, @Ctx() ctx: BusContext) {
    await this.usage.ingest(ctx.manager, event.receipts);
  }
}
