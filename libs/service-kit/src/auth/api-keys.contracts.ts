import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { isoDateTime } from '../contracts';
import { PRINCIPAL_ID, PRINCIPAL_ID_RULE, ROLES } from './roles';

export const IssueApiKeySchema = z.object({
  principalId: z.string().regex(PRINCIPAL_ID, PRINCIPAL_ID_RULE).describe('e.g. alice'),
  roles: z.array(z.enum(ROLES, { errorMap: () => ({ message: `roles must be some of ${ROLES.join(', ')}` }) })).min(1, 'roles must name at least one role'),
  label: z.string().max(200).optional().describe('e.g. alice laptop'),
});
export class IssueApiKeyBody extends createZodDto(IssueApiKeySchema) {}

const ApiKeyFields = { id: z.string().uuid(), principalId: z.string(), roles: z.array(z.enum(ROLES)), label: z.string() };
export class IssuedApiKeyDto extends createZodDto(z.object({ ...ApiKeyFields, key: z.string().describe('shown once; only its hash is kept') })) {}
export class ApiKeyDto extends createZodDto(z.object({ ...ApiKeyFields, createdAt: isoDateTime(), revokedAt: isoDateTime().nullable() })) {}
