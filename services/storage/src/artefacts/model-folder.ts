import { createHash } from 'node:crypto';
import { elementCount, type SafetensorsDtype } from '@clopen/safetensors';
import { ArtefactRejected } from './artefact.errors';
import type { InspectedArtefact, InspectedSafetensors } from './artefact-inspector';
import { CONFIG_FILE, SHARD_INDEX_FILE, SINGLE_WEIGHTS_FILE, classifyArtefact, parseShardName, shardFileName, type ArtefactKind } from './file-names';

export interface ManifestFile {
  path: string;
  size: number;
  sha256: string;
  kind: ArtefactKind;
}

export interface WeightsSummary {
  format: 'safetensors';
  /** 1 for a single model.safetensors. */
  shards: number;
  tensorCount: number;
  /** Total number of elements over all tensors. */
  parameterCount: number;
  /** Distinct dtypes of the tensors, sorted, e.g. ['BF16', 'F32']. */
  dtypes: SafetensorsDtype[];
}

export interface ModelFolderManifest {
  /** Sorted by path. */
  files: ManifestFile[];
  weights: WeightsSummary;
  /** sha256 over the sorted lines `path:sha256\n`: identifies the folder's exact content. */
  manifestSha256: string;
}

interface SafetensorsFile {
  path: string;
  safetensors: InspectedSafetensors;
}

/**
 * Checks that the inspected files form a loadable model folder, once every file has arrived:
 * config.json is a JSON object; weights are either model.safetensors alone or a complete shard set
 * with an index that agrees with the shards' headers. Throws ArtefactRejected otherwise.
 */
export function validateModelFolder(results: readonly InspectedArtefact[]): ModelFolderManifest {
  const byPath = new Map<string, InspectedArtefact>();
  for (const result of results) {
    const kind = classifyArtefact(result.path);
    if (kind !== result.kind) {
      throw new Error(`validateModelFolder: ${result.path} is a ${kind}, not a ${result.kind}`);
    }
    if (byPath.has(result.path)) {
      throw new ArtefactRejected('duplicate_file', `artefact ${result.path} was uploaded more than once; send each file once`, result.path);
    }
    byPath.set(result.path, result);
  }

  assertConfig(byPath.get(CONFIG_FILE));
  const weightFiles = collectWeights(byPath);
  const weights = summariseWeights(weightFiles);

  const files = [...byPath.values()]
    .map(({ path, size, sha256, kind }) => ({ path, size, sha256, kind }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const manifestSha256 = createHash('sha256')
    .update(files.map((file) => `${file.path}:${file.sha256}\n`).join(''))
    .digest('hex');
  return { files, weights, manifestSha256 };
}

function assertConfig(config: InspectedArtefact | undefined): void {
  if (!config) {
    throw new ArtefactRejected('missing_config', `model folder has no ${CONFIG_FILE}; upload the config.json that describes the architecture`);
  }
  const json = config.json;
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ArtefactRejected('missing_config', `${CONFIG_FILE} is not a JSON object; upload the config.json written by save_pretrained`, CONFIG_FILE);
  }
}

function safetensorsOf(result: InspectedArtefact): SafetensorsFile {
  if (!result.safetensors) {
    throw new ArtefactRejected('corrupt_safetensors', `artefact ${result.path} has no inspected safetensors header; re-upload it`, result.path);
  }
  return { path: result.path, safetensors: result.safetensors };
}

/** Returns the weight files, in shard order, after checking they form one complete, consistent set. */
function collectWeights(byPath: ReadonlyMap<string, InspectedArtefact>): SafetensorsFile[] {
  const single = byPath.get(SINGLE_WEIGHTS_FILE);
  const index = byPath.get(SHARD_INDEX_FILE);
  const shards = [...byPath.values()].filter((file) => file.kind === 'weights_shard');

  if (single && (shards.length > 0 || index)) {
    const others = [...shards.map((s) => s.path), ...(index ? [index.path] : [])].sort();
    throw new ArtefactRejected(
      'mixed_weights',
      `model folder has both ${SINGLE_WEIGHTS_FILE} and sharded weights (${others.join(', ')}); ` +
        'upload either the single file or the shard set with its index, not both',
    );
  }
  if (single) return [safetensorsOf(single)];
  if (shards.length === 0) {
    if (index) {
      throw new ArtefactRejected(
        'missing_shard',
        `model folder has ${SHARD_INDEX_FILE} but none of the shards it lists; upload the shard files`,
        SHARD_INDEX_FILE,
      );
    }
    throw new ArtefactRejected(
      'missing_weights',
      `model folder has no weights; upload ${SINGLE_WEIGHTS_FILE} or model-0000i-of-0000N.safetensors ` + `shards with ${SHARD_INDEX_FILE}`,
    );
  }

  const ordered = orderShardSet(shards);
  if (!index) {
    throw new ArtefactRejected(
      'invalid_index',
      `model folder has ${ordered.length} weight shards but no ${SHARD_INDEX_FILE}; upload the index ` + 'written alongside the shards',
    );
  }
  const shardFiles = ordered.map(safetensorsOf);
  assertIndexMatchesShards(index, shardFiles);
  return shardFiles;
}

function orderShardSet(shards: InspectedArtefact[]): InspectedArtefact[] {
  const parsed = shards.map((file) => ({ file, name: parseShardName(file.path) as { index: number; total: number } }));
  const totals = [...new Set(parsed.map((p) => p.name.total))].sort((a, b) => a - b);
  if (totals.length > 1) {
    const examples = totals.map((total) => parsed.find((p) => p.name.total === total)?.file.path).join(', ');
    throw new ArtefactRejected(
      'missing_shard',
      `weight shards disagree on the shard count (${totals.join(' vs ')}: ${examples}); ` + 'upload exactly one complete shard set',
    );
  }
  const total = totals[0];
  const present = new Set(parsed.map((p) => p.name.index));
  const missing: string[] = [];
  for (let i = 1; i <= total; i++) if (!present.has(i)) missing.push(shardFileName(i, total));
  if (missing.length > 0) {
    const shown = missing.slice(0, 5).join(', ') + (missing.length > 5 ? `, … (${missing.length} in all)` : '');
    throw new ArtefactRejected('missing_shard', `weight shard set of ${total} is incomplete: missing ${shown}; upload every shard`, missing[0]);
  }
  return parsed.sort((a, b) => a.name.index - b.name.index).map((p) => p.file);
}

function invalidIndex(why: string): ArtefactRejected {
  return new ArtefactRejected(
    'invalid_index',
    `${SHARD_INDEX_FILE} does not match the shards: ${why}; upload the index written together with these shards`,
    SHARD_INDEX_FILE,
  );
}

function assertIndexMatchesShards(index: InspectedArtefact, shards: SafetensorsFile[]): void {
  const json = index.json;
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw invalidIndex('it is not a JSON object');
  }
  const weightMap = (json as Record<string, unknown>).weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw invalidIndex('it has no "weight_map" object');
  }

  const shardsByPath = new Map(shards.map((shard) => [shard.path, shard]));
  const mapped = new Map<string, string>();
  for (const [tensor, shardPath] of Object.entries(weightMap)) {
    if (typeof shardPath !== 'string') {
      throw invalidIndex(`weight_map entry ${JSON.stringify(tensor)} is not a file name`);
    }
    const shard = shardsByPath.get(shardPath);
    if (!shard) {
      throw new ArtefactRejected(
        'missing_shard',
        `${SHARD_INDEX_FILE} maps tensor ${JSON.stringify(tensor)} to ${JSON.stringify(shardPath)}, ` +
          'which is not among the uploaded shards; upload that shard or the matching index',
        SHARD_INDEX_FILE,
      );
    }
    if (!Object.prototype.hasOwnProperty.call(shard.safetensors.tensors, tensor)) {
      throw invalidIndex(`tensor ${JSON.stringify(tensor)} is mapped to ${shardPath}, which has no such tensor`);
    }
    mapped.set(tensor, shardPath);
  }

  for (const shard of shards) {
    for (const tensor of Object.keys(shard.safetensors.tensors)) {
      const listed = mapped.get(tensor);
      if (listed === undefined) {
        throw invalidIndex(`tensor ${JSON.stringify(tensor)} in ${shard.path} is not listed in weight_map`);
      }
      if (listed !== shard.path) {
        throw invalidIndex(`tensor ${JSON.stringify(tensor)} is stored in ${shard.path} but weight_map points to ${listed}`);
      }
    }
  }
}

function summariseWeights(files: SafetensorsFile[]): WeightsSummary {
  let tensorCount = 0;
  let parameterCount = 0n;
  const dtypes = new Set<SafetensorsDtype>();
  for (const file of files) {
    for (const tensor of Object.values(file.safetensors.tensors)) {
      const elements = elementCount(tensor.shape);
      tensorCount += 1;
      parameterCount += elements;
      dtypes.add(tensor.dtype);
    }
  }
  if (tensorCount === 0) {
    throw new ArtefactRejected('missing_weights', 'the weight files hold no tensors; upload weights exported from the trained model', files[0]?.path);
  }
  return {
    format: 'safetensors',
    shards: files.length,
    tensorCount,
    parameterCount: Number(parameterCount),
    dtypes: [...dtypes].sort(),
  };
}
