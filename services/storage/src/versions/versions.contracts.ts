import { createZodDto, isoDateTime } from '@clopen/service-kit';
import { z } from 'zod';
import { VERSION_KINDS } from './version.entity';

/**
 * The `metadata` field that opens an upload form (POST /models/{id}/versions), before any file part.
 * Documented as a schema of its own (the form carries it as a JSON string); parseUploadMetadata
 * checks it as it streams in, with a message per rule.
 */
export const UploadMetadataSchema = z.object({
  label: z.string().describe('1-64 characters of letters, digits and ._+- (e.g. "1.0.0")'),
  kind: z.enum(VERSION_KINDS),
  parents: z.array(z.string().uuid()).optional().describe('none for a base; one for a finetune, oml or quantized version; two or more for a merge'),
  licence: z.record(z.unknown()).optional().describe('the licence terms, at most 64 KiB of JSON'),
  files: z
    .array(z.object({ path: z.string(), size: z.number().int().min(0), sha256: z.string().regex(/^[0-9a-f]{64}$/) }))
    .describe('every file part that follows, in any order'),
});
export class UploadMetadataDto extends createZodDto(UploadMetadataSchema) {}

export const VersionSchema = z.object({
  id: z.string().uuid(),
  modelId: z.string().uuid(),
  label: z.string(),
  kind: z.enum(VERSION_KINDS),
  parents: z.array(z.string().uuid()).describe('parent version ids, in order'),
  licence: z.record(z.unknown()).describe('the licence terms the owner published'),
  weights: z.object({
    format: z.literal('safetensors'),
    shards: z.number().int(),
    tensorCount: z.number().int(),
    parameterCount: z.number().int(),
    dtypes: z.array(z.string()),
  }),
  manifestSha256: z.string(),
  totalBytes: z.number().int(),
  publishedAt: isoDateTime(),
  files: z.array(z.object({ path: z.string(), size: z.number().int(), sha256: z.string(), contentType: z.string() })),
});
export class VersionDto extends createZodDto(VersionSchema) {}
/** What the service returns for a version (dates as Date; the wire carries ISO strings). */
export type VersionView = z.input<typeof VersionSchema>;

export const LineageSchema = z.array(
  z.object({
    id: z.string().uuid(),
    modelId: z.string().uuid(),
    label: z.string(),
    kind: z.string(),
    parents: z.array(z.string().uuid()),
    depth: z.number().int().describe('0 for the version itself'),
  }),
);
export class LineageDto extends createZodDto(LineageSchema) {}

export const PresignedUrlQuerySchema = z.object({
  ttlSeconds: z.coerce
    .number({ invalid_type_error: 'ttlSeconds must be a whole number of seconds ≥ 1' })
    .int('ttlSeconds must be a whole number of seconds ≥ 1')
    .min(1, 'ttlSeconds must be a whole number of seconds ≥ 1')
    .optional()
    .describe('a shorter life than STORAGE_PRESIGN_TTL_SECONDS; never a longer one'),
});
export class PresignedUrlQuery extends createZodDto(PresignedUrlQuerySchema) {}

export const PresignedUrlSchema = z.object({ url: z.string().url(), expiresAt: isoDateTime(), sha256: z.string(), size: z.number().int() });
export class PresignedUrlDto extends createZodDto(PresignedUrlSchema) {}

export const SweepQuerySchema = z.object({
  olderThanMinutes: z.coerce.number().min(0, 'olderThanMinutes must be a non-negative number').optional().describe('defaults to STORAGE_ORPHAN_GRACE_MINUTES'),
});
export class SweepQuery extends createZodDto(SweepQuerySchema) {}

export const SweepResultSchema = z.object({ removedObjects: z.array(z.string()), abortedUploads: z.array(z.string()) });
export class SweepResultDto extends createZodDto(SweepResultSchema) {}
