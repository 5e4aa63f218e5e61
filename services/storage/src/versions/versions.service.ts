import { Inject, Injectable, Logger } from '@nestjs/common';
import { Outbox } from '@clopen/bus';
import { create, storageV1 } from '@clopen/proto';
import { CONFIG, Metrics, ObjectStore, type Principal } from '@clopen/service-kit';
import busboy from 'busboy';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { Counter } from 'prom-client';
import { DataSource, In, QueryFailedError } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import { ArtefactInspector, ArtefactRejected, assertSafeFileName, httpStatusOf, validateModelFolder, type InspectedArtefact } from '../artefacts';
import { toVersionMessage } from '../models/models.events';
import { ModelsService, isUuid } from '../models/models.service';
import type { StorageConfig } from '../storage.settings';
import { FileNotFound, UploadRejected, VersionLabelTaken, VersionNotFound } from '../storage.errors';
import { parseUploadMetadata, type UploadMetadata } from './upload-metadata';
import { ArtefactFile, ModelVersion, VersionParent } from './version.entity';
import type { VersionView } from './versions.contracts';

const CONTENT_TYPES: Record<string, string> = { json: 'application/json', txt: 'text/plain', md: 'text/markdown', safetensors: 'application/octet-stream' };
const contentTypeOf = (path: string) => CONTENT_TYPES[path.split('.').pop() ?? ''] ?? 'application/octet-stream';

@Injectable()
export class VersionsService {
  private readonly logger = new Logger(VersionsService.name);
  private readonly uploadedBytes: Counter;
  private readonly rejected: Counter<'code'>;

  constructor(
    private readonly db: DataSource,
    private readonly outbox: Outbox,
    private readonly store: ObjectStore,
    private readonly models: ModelsService,
    @Inject(CONFIG) private readonly config: StorageConfig,
    metrics: Metrics,
  ) {
    this.uploadedBytes = new Counter({ name: 'storage_uploaded_bytes_total', help: 'Bytes of artefacts accepted', registers: [metrics.registry] });
    this.rejected = new Counter({
      name: 'storage_uploads_rejected_total',
      help: 'Uploads refused, by reason',
      labelNames: ['code'],
      registers: [metrics.registry],
    });
  }

  /**
   * Publishes a version from a multipart form: a `metadata` JSON field, then one part per file.
   * Each file streams through validation into S3. The version row, its files, lineage and the
   * `storage.version.published` event are written in one transaction only after every file
   * passed; on any failure every object written so far is removed.
   */
  async publishFromUpload(principal: Principal, modelId: string, req: IncomingMessage): Promise<VersionView> {
    const model = await this.models.getForChange(principal, modelId);
    const versionId = uuidv7();
    const keys: string[] = [];
    try {
      const { metadata, inspected } = await this.receive(req, model.id, versionId, keys);
      const manifest = (() => {
        try {
          return validateModelFolder(inspected);
        } catch (e) {
          throw asUploadRejected(e);
        }
      })();
      const version = Object.assign(new ModelVersion(), {
        id: versionId,
        modelId: model.id,
        label: metadata.label,
        kind: metadata.kind,
        licenceTerms: metadata.licence,
        weights: manifest.weights,
        manifestSha256: manifest.manifestSha256,
        totalBytes: inspected.reduce((n, f) => n + f.size, 0),
        publishedAt: new Date(),
      });
      const files: Omit<ArtefactFile, 'version'>[] = inspected.map((f) => ({
        versionId,
        path: f.path,
        sizeBytes: f.size,
        sha256: f.sha256,
        contentType: contentTypeOf(f.path),
        objectKey: objectKey(model.id, versionId, f.path),
      }));
      try {
        await this.db.transaction(async (m) => {
          await m.insert(ModelVersion, version);
          if (metadata.parents.length) {
            await m.insert(
              VersionParent,
              metadata.parents.map((parentId, position) => ({ versionId, parentId, position })),
            );
          }
          await m.insert(ArtefactFile, files);
          await this.outbox.enqueue(
            m,
            'storage.version.published',
            create(storageV1.VersionPublishedSchema, { version: toVersionMessage(version, metadata.parents, files), ownerId: model.ownerId }),
          );
        });
      } catch (e) {
        if (e instanceof QueryFailedError && (e as any).code === '23505' && String((e as any).constraint).includes('label'))
          throw new VersionLabelTaken(model.id, metadata.label);
        if (e instanceof QueryFailedError && (e as any).code === '23503')
          throw new UploadRejected('unknown_parent', `a parent version no longer exists: ${(e as any).detail ?? ''}`, 404);
        throw e;
      }
      this.uploadedBytes.inc(version.totalBytes);
      this.logger.log(`published ${model.name}@${version.label} (${versionId}): ${files.length} files, ${version.totalBytes} bytes`);
      return view(version, metadata.parents, files);
    } catch (e) {
      this.rejected.inc({ code: (e as { code?: string }).code ?? 'internal' });
      drain(req);
      await this.store.removeAll(keys).catch((err) => this.logger.error(`could not remove objects of failed upload ${versionId}: ${err}`));
      throw e;
    }
  }

  /** Reads the form: metadata first, then each declared file through an inspector into S3. */
  private receive(
    req: IncomingMessage,
    modelId: string,
    versionId: string,
    keys: string[],
  ): Promise<{ metadata: UploadMetadata; inspected: InspectedArtefact[] }> {
    const maxFileBytes = this.config.STORAGE_MAX_FILE_BYTES;
    if (!/^multipart\/form-data/i.test(req.headers['content-type'] ?? '')) {
      return Promise.reject(
        new UploadRejected('not_multipart', 'send the version as multipart/form-data: a "metadata" JSON field, then one file part per file', 415),
      );
    }
    return new Promise((resolve, reject) => {
      let metadata: UploadMetadata | undefined;
      let failure: unknown;
      let chain: Promise<void> = Promise.resolve();
      const inspected: InspectedArtefact[] = [];
      const received = new Set<string>();
      let current: ArtefactInspector | undefined;
      // The first failure stops the file in flight and answers as soon as its upload has been
      // aborted, without reading the rest of a possibly large body first.
      const fail = (e: unknown) => {
        if (failure) return;
        failure = e;
        current?.destroy(e as Error);
        chain.then(() => reject(failure));
      };
      let bb: busboy.Busboy;
      try {
        bb = busboy({
          headers: req.headers,
          preservePath: true,
          limits: { fileSize: maxFileBytes + 1, files: 1000, fields: 4, fieldSize: 1024 * 1024, parts: 1004 },
        });
      } catch (e) {
        reject(new UploadRejected('not_multipart', `cannot read the form: ${(e as Error).message}`));
        return;
      }

      bb.on('field', (name, value, info) => {
        if (failure) return;
        if (name !== 'metadata')
          return fail(new UploadRejected('invalid_metadata', `unexpected form field ${JSON.stringify(name)}; only "metadata" and file parts are accepted`));
        if (metadata) return fail(new UploadRejected('invalid_metadata', 'metadata was sent twice'));
        if (info.valueTruncated) return fail(new UploadRejected('invalid_metadata', 'metadata is larger than 1 MiB'));
        chain = chain.then(async () => {
          if (failure) return;
          try {
            const parsed = parseUploadMetadata(value);
            for (const f of parsed.files) {
              try {
                assertSafeFileName(f.path);
              } catch (e) {
                throw asUploadRejected(e);
              }
              if (f.size > maxFileBytes)
                throw new UploadRejected(
                  'file_too_large',
                  `file ${f.path} is ${f.size} bytes; the limit is ${maxFileBytes} bytes (STORAGE_MAX_FILE_BYTES)`,
                  413,
                );
            }
            await this.assertParentsExist(parsed.parents);
            // Fail before any byte is stored; the unique constraint still decides a race.
            if (await this.db.getRepository(ModelVersion).existsBy({ modelId, label: parsed.label })) throw new VersionLabelTaken(modelId, parsed.label);
            metadata = parsed;
          } catch (e) {
            fail(e);
          }
        });
      });

      bb.on('file', (_field, stream: Readable, info) => {
        chain = chain.then(async () => {
          if (failure) return void stream.resume();
          const path = info.filename ?? '';
          try {
            if (!metadata) throw new UploadRejected('invalid_metadata', 'the "metadata" field must come before the first file part');
            try {
              assertSafeFileName(path);
            } catch (e) {
              throw asUploadRejected(e);
            }
            const declared = metadata.files.find((f) => f.path === path);
            if (!declared)
              throw new UploadRejected('undeclared_file', `file ${path} is not listed in metadata.files; list every file with its size and sha256`);
            if (received.has(path)) throw new UploadRejected('duplicate_file', `file ${path} was sent twice`);
            received.add(path);
            const inspector = new ArtefactInspector({ path, declaredSize: declared.size, declaredSha256: declared.sha256, maxBytes: maxFileBytes });
            current = inspector;
            stream.on('limit', () =>
              inspector.destroy(new UploadRejected('file_too_large', `file ${path} exceeds the limit of ${maxFileBytes} bytes (STORAGE_MAX_FILE_BYTES)`, 413)),
            );
            stream.on('error', (e) => inspector.destroy(e));
            stream.pipe(inspector);
            const key = objectKey(modelId, versionId, path);
            keys.push(key);
            await this.store.putStream(key, inspector, { contentType: contentTypeOf(path), expectedSize: declared.size });
            inspected.push(inspector.result);
            current = undefined;
          } catch (e) {
            current = undefined;
            fail(asUploadRejected(e));
            stream.resume();
          }
        });
      });

      const finish = () => {
        chain.then(() => {
          if (failure) return reject(failure);
          if (!metadata) return reject(new UploadRejected('invalid_metadata', 'the form has no "metadata" field'));
          const missing = metadata.files.filter((f) => !received.has(f.path)).map((f) => f.path);
          if (missing.length) return reject(new UploadRejected('truncated', `the upload ended before these declared files arrived: ${missing.join(', ')}`));
          resolve({ metadata, inspected });
        });
      };
      bb.on('close', finish);
      bb.on('error', (e) => {
        fail(new UploadRejected('truncated', `the upload was cut off or malformed: ${(e as Error).message}`));
        finish();
      });
      bb.on('filesLimit', () => fail(new UploadRejected('too_many_files', 'a version has at most 1000 files')));
      req.on('close', () => {
        if (!req.complete) {
          fail(new UploadRejected('truncated', 'the client closed the connection before the upload completed'));
          bb.destroy();
          finish();
        }
      });
      req.pipe(bb);
    });
  }

  private async assertParentsExist(parents: string[]) {
    if (!parents.length) return;
    const found = await this.db.getRepository(ModelVersion).find({ select: { id: true }, where: { id: In(parents) } });
    const missing = parents.filter((p) => !found.some((f) => f.id === p));
    if (missing.length) throw new UploadRejected('unknown_parent', `unknown parent version ${missing.join(', ')}; publish the parent first or fix its id`, 404);
  }

  async get(id: string): Promise<VersionView> {
    const version = await this.load(id);
    return view(version, sortedParents(version.parents), version.files);
  }

  /** The version as the bus carries it (storage.version.get). */
  async getMessage(id: string): Promise<storageV1.ModelVersion> {
    const version = await this.load(id);
    return toVersionMessage(version, sortedParents(version.parents), version.files);
  }

  private async load(id: string): Promise<ModelVersion> {
    const version = isUuid(id) ? await this.db.getRepository(ModelVersion).findOne({ where: { id }, relations: { files: true, parents: true } }) : null;
    if (!version) throw new VersionNotFound(id);
    return version;
  }

  async listForModel(modelId: string): Promise<VersionView[]> {
    await this.models.get(modelId);
    const versions = await this.db
      .getRepository(ModelVersion)
      .find({ where: { modelId }, relations: { files: true, parents: true }, order: { publishedAt: 'ASC' } });
    return versions.map((v) => view(v, sortedParents(v.parents), v.files));
  }

  /** Every ancestor of a version, nearest first, following parents across models. */
  async lineage(id: string): Promise<{ id: string; modelId: string; label: string; kind: string; parents: string[]; depth: number }[]> {
    await this.get(id);
    const rows: any[] = await this.db.query(
      `WITH RECURSIVE anc(id, depth) AS (
         SELECT $1::uuid, 0
         UNION
         SELECT p.parent_id, anc.depth + 1 FROM version_parents p JOIN anc ON p.version_id = anc.id WHERE anc.depth < 64
       )
       SELECT v.id, v.model_id, v.label, v.kind, MIN(anc.depth) AS depth,
              COALESCE((SELECT array_agg(parent_id ORDER BY position) FROM version_parents WHERE version_id = v.id), '{}') AS parents
       FROM anc JOIN model_versions v ON v.id = anc.id
       GROUP BY v.id ORDER BY depth, v.id`,
      [id],
    );
    return rows.map((r) => ({ id: r.id, modelId: r.model_id, label: r.label, kind: r.kind, parents: r.parents, depth: Number(r.depth) }));
  }

  /** A file the principal may read; owners and admins may read any file of their models. */
  async fileForRead(principal: Principal, versionId: string, path: string): Promise<ArtefactFile> {
    const version = await this.get(versionId);
    await this.models.getForChange(principal, version.modelId);
    const file = await this.db.getRepository(ArtefactFile).findOneBy({ versionId, path });
    if (!file) throw new FileNotFound(versionId, path);
    return file;
  }

  /** `ttlSeconds` asks for a shorter life than STORAGE_PRESIGN_TTL_SECONDS (e.g. a delivery to a host); never a longer one. */
  async presignedUrl(
    principal: Principal,
    versionId: string,
    path: string,
    ttlSeconds?: number,
  ): Promise<{ url: string; expiresAt: Date; sha256: string; size: number }> {
    const file = await this.fileForRead(principal, versionId, path);
    const ttl = Math.min(ttlSeconds ?? Infinity, this.config.STORAGE_PRESIGN_TTL_SECONDS);
    const url = await this.store.signer.presignedGetObject(this.store.bucket, file.objectKey, ttl);
    return { url, expiresAt: new Date(Date.now() + ttl * 1000), sha256: file.sha256, size: file.sizeBytes };
  }

  async openFile(principal: Principal, versionId: string, path: string): Promise<{ file: ArtefactFile; body: Readable }> {
    const file = await this.fileForRead(principal, versionId, path);
    const body = await this.store.client.getObject(this.store.bucket, file.objectKey);
    return { file, body };
  }
}

const objectKey = (modelId: string, versionId: string, path: string) => `models/${modelId}/versions/${versionId}/${path}`;

function sortedParents(parents: VersionParent[] = []): string[] {
  return [...parents].sort((a, b) => a.position - b.position).map((p) => p.parentId);
}

function view(v: ModelVersion, parents: string[], files: Omit<ArtefactFile, 'version'>[]): VersionView {
  return {
    id: v.id,
    modelId: v.modelId,
    label: v.label,
    kind: v.kind,
    parents,
    licence: v.licenceTerms,
    weights: v.weights,
    manifestSha256: v.manifestSha256,
    totalBytes: v.totalBytes,
    publishedAt: v.publishedAt,
    files: [...files]
      .sort((a, b) => a.path.localeCompare(b.path))
      .map((f) => ({ path: f.path, size: f.sizeBytes, sha256: f.sha256, contentType: f.contentType })),
  };
}

function asUploadRejected(e: unknown): unknown {
  if (e instanceof ArtefactRejected) return new UploadRejected(e.code, e.message, httpStatusOf(e.code), e.path ? { path: e.path } : undefined);
  return e;
}

/** Reads and discards the rest of a refused request so the client gets the answer instead of a reset. */
function drain(req: IncomingMessage) {
  req.unpipe();
  if (!req.complete) req.resume();
}
