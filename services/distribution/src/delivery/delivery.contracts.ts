import { createZodDto, isoDateTime } from '@clopen/service-kit';
import { z } from 'zod';

export const DeliveredCopySchema = z.object({
  deliveryId: z.string().uuid(),
  licenceId: z.string().uuid(),
  copyVersionId: z.string().uuid(),
  expiresAt: isoDateTime().describe('when the URLs stop working'),
  files: z.array(z.object({ path: z.string(), size: z.number().int(), sha256: z.string(), url: z.string().url().describe('a presigned download URL') })),
});
export class DeliveredCopyDto extends createZodDto(DeliveredCopySchema) {}
export type DeliveredCopy = z.input<typeof DeliveredCopySchema>;

export const DeliverySchema = z.object({
  id: z.string().uuid(),
  licenceId: z.string().uuid(),
  hostAddress: z.string(),
  copyVersionId: z.string().uuid(),
  files: z.array(z.string()).describe('the paths handed over'),
  expiresAt: isoDateTime(),
  createdAt: isoDateTime(),
});
export class DeliveryDto extends createZodDto(DeliverySchema) {}
