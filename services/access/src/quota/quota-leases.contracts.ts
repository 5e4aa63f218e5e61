import { createZodDto } from '@clopen/service-kit';
import { z } from 'zod';

export const LeaseRequestSchema = z
  .object({
    grantId: z.string().uuid(),
    requests: z
      .number()
      .int()
      .min(0)
      .max(100_000)
      .describe('requests wanted (or given back); access hands out at most what the grant has not leased to any host'),
    tokens: z.number().int().min(0).max(1_000_000_000).default(0),
  })
  .strict();
export class LeaseRequestBody extends createZodDto(LeaseRequestSchema) {}

export const HandoutsRequestSchema = z
  .object({ leaving: z.boolean().optional().describe('the gateway stops: no more blocks for it, and those it did not pick up go back') })
  .strict();
export class HandoutsRequestBody extends createZodDto(HandoutsRequestSchema) {}

export const QuotaLeaseSchema = z.object({
  grantId: z.string().uuid(),
  requests: z
    .number()
    .int()
    .nullable()
    .describe('requests this host may serve on top of what it holds (given back, on release); null when the grant has no request quota'),
  tokens: z.number().int().nullable().describe('the same for tokens'),
});
export class QuotaLeaseDto extends createZodDto(QuotaLeaseSchema) {}
export type QuotaLease = z.infer<typeof QuotaLeaseSchema>;
