import { createZodDto, isoDateTime } from '@clopen/service-kit';
import { z } from 'zod';
import { KEY_STRATEGIES, POOL_STATUSES, RESPONSE_STRATEGIES } from './fingerprint-pool.entity';

export const CreatePoolSchema = z
  .object({
    hosts: z.number().int().min(1).max(100_000).describe('N: hosts expected to license the version'),
    coalition: z.number().int().min(1).max(16).default(3).describe('K: the largest coalition of hosts that must still be traced'),
    keyStrategy: z.enum(KEY_STRATEGIES).default('english'),
    responseStrategy: z.enum(RESPONSE_STRATEGIES).default('perinucleus'),
    keyLength: z.number().int().min(4).max(64).default(12),
    size: z.number().int().min(1).max(100_000).optional().describe('fingerprints in the pool; defaults to what N and K need'),
  })
  .strict();
export class CreatePoolBody extends createZodDto(CreatePoolSchema) {}
export type CreatePool = z.infer<typeof CreatePoolSchema>;

/** The public face of a pool: its plan and commitment, never an entry or the seed. */
export const PoolSchema = z.object({
  id: z.string().uuid(),
  versionId: z.string().uuid(),
  modelId: z.string().uuid(),
  status: z.enum(POOL_STATUSES),
  failure: z.string().nullable(),
  size: z.number().int(),
  keyStrategy: z.enum(KEY_STRATEGIES),
  responseStrategy: z.enum(RESPONSE_STRATEGIES),
  keyLength: z.number().int(),
  hosts: z.number().int(),
  coalition: z.number().int(),
  inclusionProbability: z.number().describe('p: the chance that a copy holds a given fingerprint'),
  keysPerTrace: z.number().int(),
  entriesRoot: z.string().nullable().describe('Merkle root of the entries, once generated'),
  createdAt: isoDateTime(),
  readyAt: isoDateTime().nullable(),
});
export class PoolDto extends createZodDto(PoolSchema) {}
export type PoolView = z.input<typeof PoolSchema>;

export const KeyRotationSchema = z.object({ resealed: z.number().int().describe('pools re-sealed'), currentKeyId: z.string() });
export class KeyRotationDto extends createZodDto(KeyRotationSchema) {}
