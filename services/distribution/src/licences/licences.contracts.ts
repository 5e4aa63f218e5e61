import { createZodDto, isoDateTime } from '@clopen/service-kit';
import { z } from 'zod';
import { LICENCE_ORIGINS, LICENCE_STATUSES } from './licence.entity';

export const GrantLicenceSchema = z
  .object({
    versionId: z.string().uuid(),
    hostAddress: z.string().describe("the host's EVM address, e.g. 0x70997970C51812dc3A010C7d01b50e0d17dc79C8"),
  })
  .strict();
export class GrantLicenceBody extends createZodDto(GrantLicenceSchema) {}
export type GrantLicence = z.infer<typeof GrantLicenceSchema>;

export const EndLicenceSchema = z.object({ reason: z.string().min(1).max(500).describe('e.g. unstaked') }).strict();
export class EndLicenceBody extends createZodDto(EndLicenceSchema) {}

export const ListLicencesSchema = z.object({
  versionId: z.string().uuid().optional(),
  host: z.string().optional().describe("a host's EVM address"),
  status: z.enum(LICENCE_STATUSES).optional(),
});
export class ListLicencesQuery extends createZodDto(ListLicencesSchema) {}
export type ListLicences = z.infer<typeof ListLicencesSchema>;

export const LicenceSchema = z.object({
  id: z.string().uuid(),
  modelId: z.string().uuid(),
  versionId: z.string().uuid(),
  hostAddress: z.string().describe('EIP-55 checksummed EVM address'),
  origin: z.enum(LICENCE_ORIGINS),
  status: z.enum(LICENCE_STATUSES),
  endedReason: z.string().nullable(),
  createdAt: isoDateTime(),
  endedAt: isoDateTime().nullable(),
});
export class LicenceDto extends createZodDto(LicenceSchema) {}
