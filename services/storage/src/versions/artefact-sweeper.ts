import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { CONFIG, ObjectStore } from '@clopen/service-kit';
import { DataSource, In } from 'typeorm';
import type { StorageConfig } from '../storage.settings';
import { ModelVersion } from './version.entity';

export interface SweepResult {
  removedObjects: string[];
  abortedUploads: string[];
}

const VERSION_OF_KEY = /^models\/[^/]+\/versions\/([0-9a-f-]{36})\//;

/**
 * A refused upload cleans up after itself, but a process that dies mid-upload cannot. The sweeper
 * removes what such a death leaves: objects of versions that were never committed and unfinished
 * multipart uploads, once they are older than the grace period (longer than any upload takes).
 */
@Injectable()
export class ArtefactSweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ArtefactSweeper.name);
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;

  constructor(
    private readonly db: DataSource,
    private readonly store: ObjectStore,
    @Inject(CONFIG) private readonly config: StorageConfig,
  ) {}

  get graceMinutes(): number {
    return this.config.STORAGE_ORPHAN_GRACE_MINUTES;
  }

  onApplicationBootstrap() {
    const every = this.config.STORAGE_SWEEP_INTERVAL_MINUTES;
    if (every === 0) return;
    this.timer = setInterval(() => void this.sweepInBackground(), every * 60_000);
    this.timer.unref();
    setTimeout(() => void this.sweepInBackground(), 5_000).unref();
  }

  async onApplicationShutdown() {
    clearInterval(this.timer);
    await this.running;
  }

  private sweepInBackground() {
    if (this.running) return;
    this.running = this.sweep(new Date(Date.now() - this.graceMinutes * 60_000))
      .then(
        (r) =>
          (r.removedObjects.length || r.abortedUploads.length) &&
          this.logger.log(`removed ${r.removedObjects.length} orphan objects, aborted ${r.abortedUploads.length} unfinished uploads`),
      )
      .catch((e) => this.logger.warn(`orphan sweep failed: ${e instanceof Error ? e.message : e}`))
      .finally(() => (this.running = undefined));
  }

  /** Removes orphans last touched before `olderThan`. Several replicas may sweep at once: removal is idempotent. */
  async sweep(olderThan: Date): Promise<SweepResult> {
    const candidates: { key: string; versionId: string }[] = [];
    for await (const o of this.store.listObjects('models/')) {
      const versionId = VERSION_OF_KEY.exec(o.key)?.[1];
      if (versionId && o.lastModified < olderThan) candidates.push({ key: o.key, versionId });
    }
    const ids = [...new Set(candidates.map((c) => c.versionId))];
    const known = new Set<string>();
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await this.db.getRepository(ModelVersion).find({ select: { id: true }, where: { id: In(ids.slice(i, i + 500)) } });
      rows.forEach((r) => known.add(r.id));
    }
    const removedObjects = candidates.filter((c) => !known.has(c.versionId)).map((c) => c.key);
    if (removedObjects.length) await this.store.client.removeObjects(this.store.bucket, removedObjects);

    const abortedUploads: string[] = [];
    for (const u of await this.store.listUnfinishedUploads('models/')) {
      if (u.initiated < olderThan) {
        await this.store.abortUpload(u.key, u.uploadId);
        abortedUploads.push(u.key);
      }
    }
    return { removedObjects, abortedUploads };
  }
}
