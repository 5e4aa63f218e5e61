import { createZodDto, isoDateTime } from '@clopen/service-kit';
import { PRINCIPAL_ID, PRINCIPAL_ID_RULE } from '@clopen/service-kit';
import { z } from 'zod';

export const MODEL_NAME = /^[a-z0-9][a-z0-9._-]{0,99}$/;

export const RegisterModelSchema = z.object({
  name: z
    .string()
    .regex(MODEL_NAME, 'name must be 1-100 characters: lower-case letters, digits, ".", "_" or "-", starting with a letter or digit')
    .describe('e.g. tiny-gpt'),
  description: z.string().max(4000, 'description must be a string of at most 4000 characters').optional(),
  ownerId: z.string().regex(PRINCIPAL_ID, `ownerId: ${PRINCIPAL_ID_RULE}`).optional().describe('admins only: register for this owner'),
});
export class RegisterModelBody extends createZodDto(RegisterModelSchema) {}
export type RegisterModel = z.infer<typeof RegisterModelSchema>;

export const ListModelsSchema = z.object({
  ownerId: z.string().optional().describe('only the models of this owner'),
  after: z
    .string()
    .uuid('after must be the id (a uuid) of the last model of the previous page')
    .optional()
    .describe('id of the last model of the previous page'),
  limit: z.coerce.number().int().min(1).max(500).optional().describe('at most this many (1-500, default 100)'),
});
export class ListModelsQuery extends createZodDto(ListModelsSchema) {}

export const ModelSchema = z.object({
  id: z.string().uuid(),
  name: z.string(),
  ownerId: z.string(),
  description: z.string(),
  createdAt: isoDateTime(),
});
export class ModelDto extends createZodDto(ModelSchema) {}
