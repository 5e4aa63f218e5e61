import { Module } from '@nestjs/common';
import { AccessLink } from './access/access-link';
import { CompletionsController } from './serving/completions.controller';
import { CompletionsService } from './serving/completions.service';

@Module({
  controllers: [CompletionsController],
  providers: [AccessLink, CompletionsService],
})
export class GatewayModule {}
