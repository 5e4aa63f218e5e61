import { Body, Controller, Get, HttpCode, Post, Req, Res } from '@nestjs/common';
import { ApiExtraModels, ApiHeader, ApiOkResponse, ApiOperation, ApiResponse, ApiTags, getSchemaPath } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { PERMISSION_HEADER } from '@clopen/host-sdk';
import { Public, ZodResponse } from '@clopen/service-kit';
import { ChatCompletionBody, ChatCompletionDto, CompletionBody, CompletionDto, ModelListDto, OpenAiErrorDto } from './completions.contracts';
import { CompletionsService } from './completions.service';

/** A JSON answer, or with `stream: true` server-sent events of its chunks, the receipt event and `data: [DONE]`. */
const ApiAnswer = (dto: typeof CompletionDto | typeof ChatCompletionDto, chunk: string) =>
  ApiOkResponse({
    description: 'The answer, signed by the host: its usage receipt is in x-clopen-receipt (a stream: in its last event, clopen.receipt)',
    content: {
      'application/json': { schema: { $ref: getSchemaPath(dto) } },
      'text/event-stream': {
        schema: {
          type: 'string',
          description: `with stream: true; "data:" events of ${chunk} objects (the last with usage), then "event: clopen.receipt" with {receipt, host}, then "data: [DONE]"`,
        },
      },
    },
  });

const PermissionHeader = () =>
  ApiHeader({
    name: PERMISSION_HEADER,
    required: true,
    description: "The user's permission string for this request (libs/host-sdk): grant, counter and the user's signature over this host, model and body",
  });

/** The OpenAI-compatible surface; users authenticate with their permission string, not an API key. */
@ApiTags('completions')
@ApiExtraModels(CompletionDto, ChatCompletionDto)
// Its errors keep OpenAI's shape, not the platform's problem: what OpenAI client libraries parse.
@ApiResponse({ status: '5XX', description: "Failed, in OpenAI's error shape", type: OpenAiErrorDto })
@ApiResponse({ status: '4XX', description: "Refused, in OpenAI's error shape", type: OpenAiErrorDto })
@Public()
@Controller('v1')
export class CompletionsController {
  constructor(private readonly completions: CompletionsService) {}

  // The answer is written here, not returned: the receipt signs the exact bytes sent.
  @Post('completions')
  @HttpCode(200)
  @PermissionHeader()
  @ApiOperation({
    summary:
      'OpenAI completions (prompt, max_tokens, stop, stream); greedy. The answer carries the host-signed receipt in x-clopen-receipt (a stream: in its last event).',
  })
  @ApiAnswer(CompletionDto, 'text_completion')
  complete(@Body() body: CompletionBody, @Req() req: Request, @Res() res: Response) {
    return this.completions.serve({ kind: 'completion', input: body }, req, res);
  }

  @Post('chat/completions')
  @HttpCode(200)
  @PermissionHeader()
  @ApiOperation({ summary: 'OpenAI chat completions (messages, max_tokens, stop, stream); greedy.' })
  @ApiAnswer(ChatCompletionDto, 'chat.completion.chunk')
  chat(@Body() body: ChatCompletionBody, @Req() req: Request, @Res() res: Response) {
    return this.completions.serve({ kind: 'chat', input: body }, req, res);
  }

  @Get('models')
  @ZodResponse({ status: 200, type: ModelListDto })
  models() {
    return this.completions.models();
  }
}
