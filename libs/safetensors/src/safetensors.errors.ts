/** 'corrupt': the bytes can never be a valid file. 'truncated': they could be the start of one. */
export type SafetensorsErrorCode = 'corrupt' | 'truncated';

export interface SafetensorsErrorOptions {
  /** The file the error is about, when the caller named it. */
  path?: string;
  /** Replaces the default message, which describes a file being read. */
  message?: string;
}

/**
 * Why bytes are not a valid safetensors file (or why tensors cannot be written as one). `reason` is
 * the bare problem, so a caller can phrase its own message around it, as storage does for uploads.
 */
export class SafetensorsError extends Error {
  override readonly name = 'SafetensorsError';
  readonly path?: string;

  constructor(
    readonly code: SafetensorsErrorCode,
    readonly reason: string,
    options: SafetensorsErrorOptions = {},
  ) {
    super(options.message ?? defaultMessage(code, reason, options.path));
    this.path = options.path;
  }
}

function defaultMessage(code: SafetensorsErrorCode, reason: string, path: string | undefined): string {
  const subject = path ?? 'the data';
  return code === 'corrupt'
    ? `${subject} is not a valid safetensors file: ${reason}; re-export it with the safetensors library`
    : `${subject} is truncated: ${reason}; read or copy the complete file`;
}
