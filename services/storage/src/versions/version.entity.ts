import { Column, Entity, JoinColumn, ManyToOne, OneToMany, PrimaryColumn } from 'typeorm';

export const VERSION_KINDS = ['base', 'finetune', 'oml', 'quantized', 'merge'] as const;
export type VersionKind = (typeof VERSION_KINDS)[number];

/** Summary of the weights, derived from the safetensors headers at upload. */
export interface WeightsSummary {
  format: 'safetensors';
  shards: number;
  tensorCount: number;
  parameterCount: number;
  dtypes: string[];
}

/** A published, immutable version of a model: its files, lineage and licence terms. */
@Entity({ name: 'model_versions' })
export class ModelVersion {
  @PrimaryColumn('uuid')
  id: string;

  @Column('uuid', { name: 'model_id' })
  modelId: string;

  @Column('text')
  label: string;

  @Column('text')
  kind: VersionKind;

  @Column('jsonb', { name: 'licence_terms' })
  licenceTerms: Record<string, any>;

  @Column('jsonb')
  weights: WeightsSummary;

  @Column('text', { name: 'manifest_sha256' })
  manifestSha256: string;

  @Column('bigint', { name: 'total_bytes', transformer: { to: (v: number) => v, from: (v: string) => Number(v) } })
  totalBytes: number;

  @Column('timestamptz', { name: 'published_at' })
  publishedAt: Date;

  @OneToMany(() => ArtefactFile, (f) => f.version)
  files: ArtefactFile[];

  @OneToMany(() => VersionParent, (p) => p.version)
  parents: VersionParent[];
}

/** Lineage edge: this version was derived from `parentId` (in the order the owner gave). */
@Entity({ name: 'version_parents' })
export class VersionParent {
  @PrimaryColumn('uuid', { name: 'version_id' })
  versionId: string;

  @PrimaryColumn('uuid', { name: 'parent_id' })
  parentId: string;

  @Column('int')
  position: number;

  @ManyToOne(() => ModelVersion, (v) => v.parents, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'version_id' })
  version?: ModelVersion;
}

/** One file of a version's model folder, stored at `objectKey` in the artefact bucket. */
@Entity({ name: 'artefact_files' })
export class ArtefactFile {
  @PrimaryColumn('uuid', { name: 'version_id' })
  versionId: string;

  @PrimaryColumn('text')
  path: string;

  @Column('bigint', { name: 'size_bytes', transformer: { to: (v: number) => v, from: (v: string) => Number(v) } })
  sizeBytes: number;

  @Column('text')
  sha256: string;

  @Column('text', { name: 'content_type' })
  contentType: string;

  @Column('text', { name: 'object_key' })
  objectKey: string;

  @ManyToOne(() => ModelVersion, (v) => v.files, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'version_id' })
  version?: ModelVersion;
}
