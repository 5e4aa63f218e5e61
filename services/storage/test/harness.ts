import { Bus } from '@clopen/bus';
import { createService, type RunningService } from '@clopen/service-kit';
import {
  TEST_ADMIN_KEY,
  createTestBusNamespace,
  createTestDatabase,
  serviceEnv,
  startTestS3,
  testInfra,
  type TestBusNamespace,
  type TestDatabase,
  type TestS3,
} from '@clopen/testing';
import { storageService } from '../src/storage.service';

export const ADMIN_KEY = TEST_ADMIN_KEY;
export { api } from '@clopen/testing';

/** Real PostgreSQL database, NATS namespace and S3 server for one suite, and the env to reach them. */
export class StorageHarness {
  db: TestDatabase;
  ns: TestBusNamespace;
  s3: TestS3;
  bus: Bus;

  static async start(): Promise<StorageHarness> {
    const h = new StorageHarness();
    [h.db, h.ns, h.s3] = await Promise.all([createTestDatabase(), createTestBusNamespace(), startTestS3()]);
    h.bus = await Bus.connect({ servers: testInfra.natsUrl, producer: 'storage-test', namespace: h.ns.namespace });
    await h.bus.ensureStreams();
    return h;
  }

  env(extra: Record<string, string> = {}): Record<string, string> {
    return { ...serviceEnv(this), ...extra };
  }

  startService(extra: Record<string, string> = {}): Promise<RunningService<any>> {
    return createService(storageService, this.env(extra));
  }

  async stop() {
    await this.bus?.close();
    await Promise.allSettled([this.db?.drop(), this.ns?.cleanup(), this.s3?.stop()]);
  }
}
