export {
  runEngineJob,
  checkEngine,
  enginePythonPath,
  EngineError,
  ENGINE_PYTHON_DIR,
  type EngineCheck,
  type EngineErrorCode,
  type EngineJobOptions,
  type EngineLog,
  type EngineManifest,
  type EngineProgress,
  type EngineResult,
  type LooseManifest,
  type TrainBaseManifest,
  type TrainBaseResult,
  type TrainBaseSettings,
} from './engine';
export {
  BASE_MODEL_CONFIGS,
  MODEL_FILES,
  MODEL_STAMP,
  ensureBaseModel,
  isBaseModelName,
  defaultModelCacheDir,
  findRepoRoot,
  type BaseModel,
  type BaseModelName,
  type EnsureBaseModelOptions,
  type ModelStamp,
} from './base-model';
export { parseOmlFingerprints, formatOmlFingerprints, OmlFingerprintFormatError, type Fingerprint } from './oml-fingerprints';
export { readSafetensors, writeSafetensors, SafetensorsError, type SafetensorsDtype, type SafetensorsFile, type Tensor } from '@clopen/safetensors';
