import { Controller, Get, Post, Req, Res } from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { PERMISSION_HEADER } from '@clopen/host-sdk';
import { Public } from '@clopen/service-kit';
import { CompletionsService } from './completions.service';

/** The OpenAI-compatible surface; users authenticate with their permission string, not an API key. */
@ApiTags('completions')
@ApiHeader({ name: PERMISSION_HEADER, required: true, description: "The user's permission string for this request (libs/host-sdk): grant, counter and the user's signature over this host, model and body" })
@Public()
@Controller('v1')
export class CompletionsController {
  constructor(private readonly completions: CompletionsService) {}

  @Post('completions')
  @ApiOperation({ summary: 'OpenAI completions (prompt, max_tokens, stop, stream); greedy. The answer carries the host-signed receipt in x-clopen-receipt (a stream: in its last event).' })
  complete(@Req() req: Request, @Res() res: Response) {
    return this.completions.serve('completion', req, res);
  }

  @Post('chat/completions')
  @ApiOperation({ summary: 'OpenAI chat completions (messages, max_tokens, stop, stream); greedy.' })
  chat(@Req() req: Request, @Res() res: Response) {
    return this.completions.serve('chat', req, res);
  }

  @Get('models')
  models() {
    return this.completions.models();
  }
}
