import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { isoDateTime } from '../contracts';

const DeadLetterSchema = z.object({
  seq: z.number().int().describe('its sequence in the DLQ stream: what a redrive names'),
  subject: z.string().describe('the subject the event was published on'),
  consumer: z.string().describe('the consumer that gave up on it'),
  reason: z.string().describe('the error of its last attempt'),
  attempts: z.number().int(),
  deadAt: isoDateTime(),
  envelope: z
    .object({ id: z.string(), producer: z.string(), correlationId: z.string(), causationId: z.string(), occurredAt: isoDateTime().optional() })
    .optional()
    .describe('absent when its bytes did not decode'),
  handled: z.boolean().describe('its consumer has handled the event since (a redrive, or a later delivery)'),
});

export class DeadLetterDto extends createZodDto(DeadLetterSchema) {}

export class DeadLetterPageDto extends createZodDto(
  z.object({
    deadLetters: z.array(DeadLetterSchema),
    next: z.number().int().optional().describe('pass as `after` for the next page; absent on the last'),
  }),
) {}

export class ListDeadLettersQuery extends createZodDto(
  z.object({
    subject: z.string().optional().describe('only the dead letters of this subject'),
    after: z.coerce.number().int().min(0).optional().describe('the `next` of the previous page'),
    limit: z.coerce.number().int().min(1).max(1000).optional().describe('at most this many (default 100)'),
    unhandled: z.enum(['true', 'false']).optional().describe('true: only those not handled since'),
  }),
) {}

export class RedriveResultDto extends createZodDto(
  z.object({
    deadLetter: DeadLetterSchema,
    outcome: z.enum(['handled', 'already_processed']).describe('already_processed: its consumer had handled the event before; nothing ran'),
  }),
) {}
