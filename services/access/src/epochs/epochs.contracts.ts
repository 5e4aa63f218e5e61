import { createZodDto, isoDateTime } from '@clopen/service-kit';
import { z } from 'zod';

export const ListEpochsSchema = z
  .object({
    before: z.coerce.number().int().min(1).optional().describe('only epochs numbered below this one'),
    limit: z.coerce.number().int().min(1).max(1000).default(100).describe('at most this many (1-1000, default 100)'),
  })
  .strict();
export class ListEpochsQuery extends createZodDto(ListEpochsSchema) {}

export const ReceiptProofQuerySchema = z.object({ grantId: z.string().uuid(), counter: z.string().regex(/^\d+$/).describe("the receipt's counter") });
export class ReceiptProofQuery extends createZodDto(ReceiptProofQuerySchema) {}

/** A closed epoch: the receipts received in [startedAt, endedAt), committed by one root. */
export const EpochSchema = z.object({
  number: z.number().int(),
  startedAt: isoDateTime(),
  endedAt: isoDateTime(),
  receiptCount: z.number().int(),
  root: z.string().describe('Merkle root over the receipts, ordered by grant and counter; 0x hex'),
});
export class EpochDto extends createZodDto(EpochSchema) {}

export const ReceiptProofSchema = z.object({
  epoch: z.number().int(),
  root: z.string().describe("the epoch's Merkle root, 0x hex"),
  receipt: z.string().describe('the receipt as signed, base64url'),
  leaf: z.string().describe('sha256(0x00 ‖ receipt), 0x hex'),
  proof: z.object({
    leafIndex: z.number().int(),
    leafCount: z.number().int(),
    siblings: z.array(z.string()).describe('sibling hashes from the leaf level upward, 0x hex'),
  }),
});
export class ReceiptProofDto extends createZodDto(ReceiptProofSchema) {}
