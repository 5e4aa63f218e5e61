import { randomBytes, randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { createTestDatabase, type TestDatabase } from '@clopen/testing';
import { ArtefactLinks, createArtefactLinksTable } from '../src';

const hash = () => randomBytes(32).toString('hex');
const chainLog = (artefactHash: string, modelId: string, version: string, blockHash = `0x${hash()}`) =>
  ({ position: { blockHash }, args: { artefactHash, modelId, version } }) as never;
const storageEvent = (manifestSha256: string, modelId: string, id: string) => ({ version: { id, modelId, manifestSha256 } }) as never;

/** The join of storage's and the chain's commitments, on the real PostgreSQL. */
describe('ArtefactLinks', () => {
  let test: TestDatabase;
  let db: DataSource;
  let links: ArtefactLinks;

  beforeAll(async () => {
    test = await createTestDatabase();
    db = await new DataSource({ type: 'postgres', url: test.url }).initialize();
    const runner = db.createQueryRunner();
    await createArtefactLinksTable(runner);
    await runner.release();
    links = new ArtefactLinks(db);
  });
  afterAll(async () => {
    await db?.destroy();
    await test?.drop();
  });

  it('links a platform model and version to a chain model whichever event comes first', async () => {
    const [h1, h2] = [hash(), hash()];
    const [m1, v1, m2, v2] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    await links.storageVersionPublished(db.manager, storageEvent(h1, m1, v1));
    expect(await links.chainModelOf(m1)).toBeUndefined();
    await links.chainVersionPublished(db.manager, chainLog(`0x${h1.toUpperCase()}`, '7', '0'));
    await links.chainVersionPublished(db.manager, chainLog(h2, '8', '0'));
    await links.storageVersionPublished(db.manager, storageEvent(h2, m2, v2));
    expect(await links.chainModelOf(m1)).toBe(7n);
    expect(await links.chainModelOf(v1)).toBe(7n);
    expect(await links.chainModelOf(v2)).toBe(8n);
    expect(await links.platformVersionOf(8n)).toEqual({ modelId: m2, versionId: v2 });
    expect(await links.linkedChainModels()).toEqual(expect.arrayContaining([7n, 8n]));
  });

  it('forgets a chain commitment whose block a reorg abandoned', async () => {
    const h = hash();
    const [m, v] = [randomUUID(), randomUUID()];
    const block = `0x${hash()}`;
    await links.storageVersionPublished(db.manager, storageEvent(h, m, v));
    await links.chainVersionPublished(db.manager, chainLog(h, '9', '0', block));
    expect(await links.chainModelOf(m)).toBe(9n);
    await links.reorged(db.manager, { abandonedBlockHashes: [block] } as never);
    expect(await links.chainModelOf(m)).toBeUndefined();
    expect(await links.platformVersionOf(9n)).toBeUndefined();
  });

  it('refuses a hash that is not 32 bytes', async () => {
    await expect(links.storageVersionPublished(db.manager, storageEvent('abc', randomUUID(), randomUUID()))).rejects.toThrow(/not a 32-byte hash/);
  });
});
