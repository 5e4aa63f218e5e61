import { createZodDto, isoDateTime } from '@clopen/service-kit';
import { isAddress } from 'viem';
import { z } from 'zod';

export const BuyGrantSchema = z
  .object({
    modelId: z.string().uuid(),
    userPublicKey: z
      .string()
      .min(43)
      .max(44)
      .refine((k) => Buffer.from(k, 'base64url').length === 32, 'userPublicKey must be an ed25519 public key: 32 bytes, base64url')
      .describe("the user's ed25519 public key, 32 raw bytes as base64url (or base64); sign each request with it (libs/host-sdk permissionString)"),
    quota: z
      .object({ requests: z.number().int().min(0).optional(), tokens: z.number().int().min(0).optional() })
      .strict()
      .refine((q) => (q.requests ?? 0) > 0 || (q.tokens ?? 0) > 0, 'a grant needs a request or token quota'),
    days: z.number().int().min(1).describe('at most ACCESS_GRANT_MAX_DAYS'),
    hosts: z
      .array(z.string().refine((h) => isAddress(h, { strict: false }), 'must be an EVM address'))
      .max(100)
      .optional()
      .describe('the hosts that may serve it (EVM addresses); any licensed host when absent'),
  })
  .strict();
export class BuyGrantBody extends createZodDto(BuyGrantSchema) {}
export type BuyGrant = z.infer<typeof BuyGrantSchema>;

export const RevokeGrantSchema = z.object({ reason: z.string().min(1).max(500) }).strict();
export class RevokeGrantBody extends createZodDto(RevokeGrantSchema) {}

/** What the user keeps: the grant's terms and the signed bytes that go into every permission string. */
export const GrantSchema = z.object({
  id: z.string().uuid(),
  modelId: z.string(),
  userId: z.string(),
  hosts: z.array(z.string()).describe('checksummed EVM addresses; empty: any licensed host'),
  quota: z.object({ requests: z.number().int(), tokens: z.number().int() }).describe('0: no quota of that kind'),
  notBefore: isoDateTime(),
  expiresAt: isoDateTime(),
  issuerKeyId: z.string(),
  grant: z.string().describe('the serialized clopen.access.v1.Grant, base64url'),
  issuerSignature: z.string().describe("the issuer's ed25519 signature over it, base64url"),
  revokedAt: isoDateTime().nullable(),
  revokedReason: z.string().nullable(),
});
export class GrantDto extends createZodDto(GrantSchema) {}
export type GrantView = z.input<typeof GrantSchema>;

export const GrantUsageSchema = z.object({ requests: z.number().int(), tokensIn: z.number().int(), tokensOut: z.number().int() });
export class GrantUsageDto extends createZodDto(GrantUsageSchema) {}
