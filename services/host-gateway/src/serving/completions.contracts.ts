import { createZodDto } from '@clopen/service-kit';
import { z } from 'zod';

// OpenAI's request bodies: fields this gateway does not read pass through (the permission string signs the bytes as sent).
const common = {
  model: z.string().optional().describe('must be the model this host serves, if given'),
  max_tokens: z.number().int().min(1).optional().describe('default 16, at most GATEWAY_MAX_TOKENS'),
  stream: z.boolean().optional().describe('answer as server-sent events'),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).optional(),
  // Decoding is greedy: the copy answers its fingerprint keys the way its owner tested.
  temperature: z.number().min(0).max(2).optional().describe('accepted; decoding is greedy'),
  top_p: z.number().optional().describe('accepted; decoding is greedy'),
  n: z.literal(1).optional(),
  user: z.string().optional(),
};

export const CompletionRequestSchema = z.object({ ...common, prompt: z.string() }).passthrough();
export class CompletionBody extends createZodDto(CompletionRequestSchema) {}
export type CompletionInput = z.infer<typeof CompletionRequestSchema>;

export const ChatCompletionRequestSchema = z
  .object({
    ...common,
    messages: z
      .array(
        z
          .object({
            role: z.string().min(1),
            content: z.union([z.string(), z.null(), z.array(z.object({ type: z.string(), text: z.string().optional() }).passthrough())]),
          })
          .passthrough(),
      )
      .min(1),
  })
  .passthrough();
export class ChatCompletionBody extends createZodDto(ChatCompletionRequestSchema) {}
export type ChatCompletionInput = z.infer<typeof ChatCompletionRequestSchema>;

const FinishReason = z.enum(['length', 'stop']);
const UsageSchema = z.object({ prompt_tokens: z.number().int(), completion_tokens: z.number().int(), total_tokens: z.number().int() });
const answer = { id: z.string(), created: z.number().int().describe('unix seconds'), model: z.string() };

export const CompletionSchema = z.object({
  ...answer,
  object: z.literal('text_completion'),
  choices: z.array(z.object({ index: z.number().int(), text: z.string(), finish_reason: FinishReason })),
  usage: UsageSchema,
});
export class CompletionDto extends createZodDto(CompletionSchema) {}
export type Completion = z.infer<typeof CompletionSchema>;

export const ChatCompletionSchema = z.object({
  ...answer,
  object: z.literal('chat.completion'),
  choices: z.array(
    z.object({ index: z.number().int(), message: z.object({ role: z.literal('assistant'), content: z.string() }), finish_reason: FinishReason }),
  ),
  usage: UsageSchema,
});
export class ChatCompletionDto extends createZodDto(ChatCompletionSchema) {}
export type ChatCompletion = z.infer<typeof ChatCompletionSchema>;

// The `data:` events of a stream; the last one carries the usage.
export const CompletionChunkSchema = z.object({
  ...answer,
  object: z.literal('text_completion'),
  choices: z.array(z.object({ index: z.number().int(), text: z.string(), finish_reason: FinishReason.nullable() })),
  usage: UsageSchema.optional(),
});
export type CompletionChunk = z.infer<typeof CompletionChunkSchema>;

export const ChatCompletionChunkSchema = z.object({
  ...answer,
  object: z.literal('chat.completion.chunk'),
  choices: z.array(
    z.object({
      index: z.number().int(),
      delta: z.object({ role: z.literal('assistant').optional(), content: z.string().optional() }),
      finish_reason: FinishReason.nullable(),
    }),
  ),
  usage: UsageSchema.optional(),
});
export type ChatCompletionChunk = z.infer<typeof ChatCompletionChunkSchema>;

export const ModelListSchema = z.object({
  object: z.literal('list'),
  data: z.array(
    z.object({ id: z.string().describe('the storage model id'), object: z.literal('model'), owned_by: z.string().describe("the host's EVM address") }),
  ),
});
export class ModelListDto extends createZodDto(ModelListSchema) {}
export type ModelList = z.infer<typeof ModelListSchema>;

/** OpenAI's error body, which client libraries parse: every error of the /v1/ routes has it (the gateway's errorShape renders the platform's problems so). */
export const OpenAiErrorSchema = z.object({
  error: z.object({
    message: z.string(),
    type: z.string().describe('invalid_request_error, permission_error, insufficient_quota or server_error'),
    code: z
      .string()
      .describe(
        "the reason: a permission string's (forged, expired, replayed, revoked, wrong_host, over_quota, …), unlicensed, model_not_found, invalid_argument, …",
      ),
  }),
});
export class OpenAiErrorDto extends createZodDto(OpenAiErrorSchema) {}
export type OpenAiError = z.infer<typeof OpenAiErrorSchema>;
