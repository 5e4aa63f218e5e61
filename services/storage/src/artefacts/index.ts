export { ArtefactRejected, httpStatusOf, isArtefactRejected, type ArtefactRejectionCode } from './artefact.errors';
export {
  CONFIG_FILE,
  SHARD_INDEX_FILE,
  SINGLE_WEIGHTS_FILE,
  assertSafeFileName,
  classifyArtefact,
  isConfigFile,
  isParsedJsonFile,
  isSafetensorsFile,
  isShardIndexFile,
  isSingleWeightsFile,
  parseShardName,
  shardFileName,
  type ArtefactKind,
  type ShardName,
} from './file-names';
export {
  DEFAULT_MAX_SAFETENSORS_HEADER_BYTES,
  SAFETENSORS_DTYPE_SIZES,
  SafetensorsError,
  SafetensorsParser,
  elementCount,
  encodeSafetensors,
  parseSafetensors,
  parseSafetensorsHeader,
  type SafetensorsDtype,
  type SafetensorsHeader,
  type Tensor as SafetensorsInput,
  type SafetensorsParserOptions,
  type SafetensorsSummary,
  type SafetensorsTensor,
} from '@clopen/safetensors';
export {
  ArtefactInspector,
  DEFAULT_MAX_JSON_BYTES,
  type ArtefactInspectorOptions,
  type InspectedArtefact,
  type InspectedSafetensors,
} from './artefact-inspector';
export { validateModelFolder, type ManifestFile, type ModelFolderManifest, type WeightsSummary } from './model-folder';
