export {
  DEFAULT_MAX_SAFETENSORS_HEADER_BYTES,
  SAFETENSORS_DTYPE_SIZES,
  elementCount,
  type SafetensorsDtype,
  type SafetensorsTensor,
  type Tensor,
} from './format';
export { parseSafetensorsHeader, type SafetensorsHeader } from './header';
export { SafetensorsParser, parseSafetensors, readSafetensors, type SafetensorsFile, type SafetensorsParserOptions, type SafetensorsSummary } from './parser';
export { encodeSafetensors, encodeSafetensors as writeSafetensors } from './writer';
export { SafetensorsError, type SafetensorsErrorCode, type SafetensorsErrorOptions } from './safetensors.errors';
