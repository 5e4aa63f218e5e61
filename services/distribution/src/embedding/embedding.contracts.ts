import { createZodDto, isoDateTime } from '@clopen/service-kit';
import { z } from 'zod';
import { EMBEDDING_JOB_STATES } from './embedding-job.entity';

export const EmbeddingStatusSchema = z.object({
  licenceId: z.string().uuid(),
  jobId: z.string(),
  state: z.enum(EMBEDDING_JOB_STATES),
  phase: z.string().describe('the step it is in, while it runs'),
  percent: z.number().describe('0-100 of the current phase'),
  attempts: z.number().int(),
  maxAttempts: z.number().int(),
  reason: z.string().nullable().describe('why it failed or was cancelled'),
  copyVersionId: z.string().uuid().nullable().describe('the stored copy, once completed'),
  embedded: z.number().int().nullable().describe('fingerprints the copy answers, once completed'),
  fingerprintCount: z.number().int().nullable().describe('fingerprints assigned to the copy'),
  updatedAt: isoDateTime(),
});
export class EmbeddingStatusDto extends createZodDto(EmbeddingStatusSchema) {}
export type EmbeddingStatus = z.input<typeof EmbeddingStatusSchema>;
