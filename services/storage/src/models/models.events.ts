import { create, storageV1, timestampFromDate } from '@clopen/proto';
import type { ArtefactFile, ModelVersion, VersionKind } from '../versions/version.entity';
import type { Model } from './model.entity';

const KIND: Record<VersionKind, storageV1.VersionKind> = {
  base: storageV1.VersionKind.BASE,
  finetune: storageV1.VersionKind.FINETUNE,
  oml: storageV1.VersionKind.OML,
  quantized: storageV1.VersionKind.QUANTIZED,
  merge: storageV1.VersionKind.MERGE,
};

export function toModelMessage(m: Model): storageV1.Model {
  return create(storageV1.ModelSchema, { id: m.id, name: m.name, ownerId: m.ownerId, description: m.description, createdAt: timestampFromDate(m.createdAt) });
}

export function toVersionMessage(v: ModelVersion, parentIds: string[], files: Omit<ArtefactFile, 'version'>[]): storageV1.ModelVersion {
  return create(storageV1.ModelVersionSchema, {
    id: v.id,
    modelId: v.modelId,
    label: v.label,
    kind: KIND[v.kind],
    parentVersionIds: parentIds,
    licenceTermsJson: JSON.stringify(v.licenceTerms),
    files: files.map((f) => ({ path: f.path, sizeBytes: BigInt(f.sizeBytes), sha256: f.sha256, contentType: f.contentType })),
    manifestSha256: v.manifestSha256,
    publishedAt: timestampFromDate(v.publishedAt),
  });
}
