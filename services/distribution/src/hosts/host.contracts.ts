import { createZodDto } from '@clopen/service-kit';
import { EmbeddingStatusSchema } from '../embedding/embedding.contracts';
import { LicenceSchema } from '../licences/licences.contracts';

export const HostLicenceSchema = LicenceSchema.extend({ embedding: EmbeddingStatusSchema.describe('the state of its copy') });
export class HostLicenceDto extends createZodDto(HostLicenceSchema) {}
