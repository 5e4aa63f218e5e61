import { createZodDto, isoDateTime } from '@clopen/service-kit';
import { REJECTION_REASONS } from '@clopen/host-sdk';
import { z } from 'zod';

export const RegisterServingKeySchema = z
  .object({
    keyId: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,32}$/)
      .describe('e.g. k1'),
    publicKey: z.string().length(43).describe('ed25519, base64url of the 32 raw bytes'),
    modelId: z
      .string()
      .min(1)
      .max(100)
      .optional()
      .describe('the model the host serves with this key: it must hold an active licence for it; without it, any active licence will do'),
  })
  .strict();
export class RegisterServingKeyBody extends createZodDto(RegisterServingKeySchema) {}

/** An ed25519 key a host signs usage receipts with. */
export const ServingKeySchema = z.object({
  hostAddress: z.string(),
  keyId: z.string(),
  publicKey: z.string().describe('ed25519, base64url of the 32 raw bytes'),
  createdAt: isoDateTime(),
});
export class ServingKeyDto extends createZodDto(ServingKeySchema) {}

const REASONS = Object.keys(REJECTION_REASONS) as [keyof typeof REJECTION_REASONS, ...(keyof typeof REJECTION_REASONS)[]];

export const ListRejectionsSchema = z
  .object({
    after: z.coerce.number().int().min(0).optional().describe('id of the last rejection of the previous page'),
    limit: z.coerce.number().int().min(1).max(1000).default(100).describe('1 to 1000, default 100'),
    reason: z.enum(REASONS).optional(),
  })
  .strict();
export class ListRejectionsQuery extends createZodDto(ListRejectionsSchema) {}

/** A receipt the host sent that was not counted, and why: the record `access.usage.rejected` carries. */
export const UsageRejectionSchema = z.object({
  id: z.number().int(),
  grantId: z.string(),
  counter: z.string().describe("the receipt's counter (a uint64, as a decimal string)"),
  reason: z.string().describe(`one of ${REASONS.join(', ')}`),
  message: z.string(),
  partner: z.string().nullable().describe('the partner whose report it came in, if any'),
  rejectedAt: isoDateTime(),
});
export class UsageRejectionDto extends createZodDto(UsageRejectionSchema) {}

/** A licence access knows this host holds or held, from distribution's events. */
export const HostLicenceSchema = z.object({
  id: z.string(),
  modelId: z.string(),
  versionId: z.string(),
  grantedAt: isoDateTime(),
  endedAt: isoDateTime().nullable(),
  endReason: z.string().nullable(),
  active: z.boolean(),
});
export class HostLicenceDto extends createZodDto(HostLicenceSchema) {}

export const HostSessionSchema = z.object({
  token: z.string(),
  expiresAt: z.number().int().describe('unix seconds'),
});
export class HostSessionDto extends createZodDto(HostSessionSchema) {}
