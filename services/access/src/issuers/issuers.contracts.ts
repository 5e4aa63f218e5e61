import { createZodDto } from '@clopen/service-kit';
import { z } from 'zod';

export const IssuerKeySchema = z.object({
  keyId: z.string(),
  publicKey: z.string().describe('ed25519, base64url of the 32 raw bytes'),
  current: z.boolean().describe('the key that signs new grants; the others still verify the grants they signed'),
});
export class IssuerKeyDto extends createZodDto(IssuerKeySchema) {}
