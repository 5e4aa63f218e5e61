import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import type { chainV1, storageV1 } from '@clopen/proto';

/** 0x + 64 lower-case hex, whichever way the hash came. */
export function bytes32(hex: string): `0x${string}` {
  const h = hex.toLowerCase().replace(/^0x/, '');
  if (!/^[0-9a-f]{64}$/.test(h)) throw new Error(`not a 32-byte hash: ${hex}`);
  return `0x${h}`;
}

/** The migration step of a service that keeps links: its own artefact_links table. */
export async function createArtefactLinksTable(q: QueryRunner): Promise<void> {
  await q.query(`
    CREATE TABLE artefact_links (
      artefact_hash text PRIMARY KEY,
      platform_model_id text,
      platform_version_id text,
      chain_model_id numeric(78, 0),
      chain_version bigint,
      chain_block_hash text,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`);
  await q.query('CREATE INDEX artefact_links_model ON artefact_links (platform_model_id)');
  await q.query('CREATE INDEX artefact_links_version ON artefact_links (platform_version_id)');
  await q.query('CREATE INDEX artefact_links_chain_model ON artefact_links (chain_model_id)');
}

/**
 * Which chain model a platform model is. The owner commits a version's artefact hash on chain
 * (ModelRegistry.publishVersion with storage's manifest sha256); storage publishes the same hash
 * for the version. Either may arrive first; the link exists once both have. Feed it the three
 * events in the consumer's transaction.
 */
export class ArtefactLinks {
  constructor(private readonly db: DataSource) {}

  async storageVersionPublished(manager: EntityManager, event: storageV1.VersionPublished): Promise<void> {
    const v = event.version;
    if (!v?.manifestSha256) return;
    await manager.query(
      `INSERT INTO artefact_links (artefact_hash, platform_model_id, platform_version_id) VALUES ($1, $2, $3)
       ON CONFLICT (artefact_hash) DO UPDATE SET platform_model_id = EXCLUDED.platform_model_id, platform_version_id = EXCLUDED.platform_version_id, updated_at = now()`,
      [bytes32(v.manifestSha256), v.modelId, v.id],
    );
  }

  async chainVersionPublished(manager: EntityManager, log: chainV1.ContractLogObserved): Promise<void> {
    await manager.query(
      `INSERT INTO artefact_links (artefact_hash, chain_model_id, chain_version, chain_block_hash) VALUES ($1, $2, $3, $4)
       ON CONFLICT (artefact_hash) DO UPDATE SET chain_model_id = EXCLUDED.chain_model_id, chain_version = EXCLUDED.chain_version,
         chain_block_hash = EXCLUDED.chain_block_hash, updated_at = now()`,
      [bytes32(log.args.artefactHash), log.args.modelId, log.args.version, log.position?.blockHash ?? null],
    );
  }

  /** A reorg voided the blocks: the commitments they held are gone until re-published. */
  async reorged(manager: EntityManager, event: chainV1.ChainReorged): Promise<void> {
    await manager.query(
      `UPDATE artefact_links SET chain_model_id = NULL, chain_version = NULL, chain_block_hash = NULL, updated_at = now()
       WHERE chain_block_hash = ANY($1)`,
      [event.abandonedBlockHashes],
    );
  }

  /** The chain model of a platform model or version id, or undefined while it is not linked. */
  async chainModelOf(platformId: string, manager: EntityManager = this.db.manager): Promise<bigint | undefined> {
    const rows: { id: string }[] = await manager.query(
      `SELECT chain_model_id::text AS id FROM artefact_links
       WHERE (platform_model_id = $1 OR platform_version_id = $1) AND chain_model_id IS NOT NULL
       ORDER BY chain_version DESC LIMIT 1`,
      [platformId],
    );
    return rows.length ? BigInt(rows[0].id) : undefined;
  }

  /** The newest platform version committed for a chain model, or undefined while none is linked. */
  async platformVersionOf(
    chainModelId: bigint | string,
    manager: EntityManager = this.db.manager,
  ): Promise<{ modelId: string; versionId: string } | undefined> {
    const rows: { model_id: string; version_id: string }[] = await manager.query(
      `SELECT platform_model_id AS model_id, platform_version_id AS version_id FROM artefact_links
       WHERE chain_model_id = $1 AND platform_version_id IS NOT NULL ORDER BY chain_version DESC LIMIT 1`,
      [chainModelId.toString()],
    );
    return rows.length ? { modelId: rows[0].model_id, versionId: rows[0].version_id } : undefined;
  }

  async linkedChainModels(): Promise<bigint[]> {
    const rows: { id: string }[] = await this.db.query(
      'SELECT DISTINCT chain_model_id::text AS id FROM artefact_links WHERE chain_model_id IS NOT NULL ORDER BY 1',
    );
    return rows.map((r) => BigInt(r.id));
  }

  async list() {
    return this.db.query(
      `SELECT artefact_hash AS "artefactHash", platform_model_id AS "modelId", platform_version_id AS "versionId",
              chain_model_id::text AS "chainModelId", chain_version AS "chainVersion"
       FROM artefact_links ORDER BY updated_at DESC`,
    );
  }
}
