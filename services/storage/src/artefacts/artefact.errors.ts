/**
 * Why an uploaded model artefact (one file, or the folder as a whole) was refused.
 * Codes are part of the public API: clients switch on them, so never rename one.
 */
export type ArtefactRejectionCode =
  | 'invalid_file_name'
  | 'unexpected_file'
  | 'duplicate_file'
  | 'file_too_large'
  | 'size_mismatch'
  | 'truncated'
  | 'checksum_mismatch'
  | 'invalid_declaration'
  | 'corrupt_safetensors'
  | 'invalid_json'
  | 'missing_config'
  | 'missing_weights'
  | 'mixed_weights'
  | 'missing_shard'
  | 'invalid_index'
  | 'corrupt_onnx';

export class ArtefactRejected extends Error {
  override readonly name = 'ArtefactRejected';

  constructor(
    readonly code: ArtefactRejectionCode,
    message: string,
    /** The file inside the model folder the rejection is about; absent for folder-wide problems. */
    readonly path?: string,
  ) {
    super(message);
  }
}

/** The one place a rejection becomes an HTTP status: 413 when the client sent too much, 400 otherwise. */
export function httpStatusOf(code: ArtefactRejectionCode): 400 | 413 {
  return code === 'file_too_large' ? 413 : 400;
}

export function isArtefactRejected(error: unknown): error is ArtefactRejected {
  return error instanceof ArtefactRejected;
}
