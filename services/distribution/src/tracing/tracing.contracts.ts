import { createZodDto, isoDateTime } from '@clopen/service-kit';
import type { TraceOutcome } from '@clopen/tracing';
import { z } from 'zod';

export const ChallengeRequestSchema = z.object({ keys: z.number().int().min(1).max(10_000).optional().describe('default: what one trace needs') }).strict();
export class ChallengeRequestBody extends createZodDto(ChallengeRequestSchema) {}
export type ChallengeRequest = z.infer<typeof ChallengeRequestSchema>;

export const ChallengeSchema = z.object({
  challengeId: z.string().uuid(),
  versionId: z.string().uuid(),
  modelId: z.string().uuid(),
  keys: z.array(z.object({ index: z.number().int(), key: z.string() })).describe('pool keys to ask the suspect model, never handed out before'),
});
export class ChallengeDto extends createZodDto(ChallengeSchema) {}
export type IssuedChallenge = z.infer<typeof ChallengeSchema>;

export const TraceRequestSchema = z
  .object({
    responses: z
      .array(
        z
          .object({
            index: z.number().int().min(0),
            output: z.string().max(10_000).describe('what the suspect model output for the key (the completion after it)'),
          })
          .strict(),
      )
      .min(1),
  })
  .strict();
export class TraceRequestBody extends createZodDto(TraceRequestSchema) {}
export type TraceRequest = z.infer<typeof TraceRequestSchema>;

/** How one host scored in a trace; stored with the trace as it is answered. */
export const HostScoreSchema = z.object({
  hostAddress: z.string(),
  licenceId: z.string().uuid(),
  answeredHeld: z.number().int().describe('answered keys its copy holds'),
  score: z.number(),
  pValue: z.number(),
  accused: z.boolean(),
});

const TRACE_OUTCOMES = ['accused', 'too-few-answers', 'no-significant-host'] as const satisfies readonly TraceOutcome[];

export const TraceSchema = z.object({
  id: z.string().uuid(),
  challengeId: z.string().uuid(),
  versionId: z.string().uuid(),
  requestedBy: z.string(),
  keysAsked: z.number().int(),
  keysAnswered: z.number().int(),
  outcome: z.enum(TRACE_OUTCOMES),
  falseAccusation: z.number().describe('the false-accusation rate it accuses at'),
  scores: z.array(HostScoreSchema),
  accused: z.array(z.string()).describe('addresses of the accused hosts'),
  createdAt: isoDateTime(),
});
export class TraceDto extends createZodDto(TraceSchema) {}
