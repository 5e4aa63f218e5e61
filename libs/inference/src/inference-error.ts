export type InferenceErrorCode =
  /** A file the model folder needs is not there. */
  | 'missing_file'
  /** A file is there but unusable: config without GPT-2 keys, a tokenizer that is not byte-level BPE, a broken graph. */
  | 'invalid_model'
  /** The caller asked for something impossible: maxTokens below 1, a token id outside the vocabulary. */
  | 'invalid_input'
  /** The caller's AbortSignal fired. */
  | 'aborted';

export class InferenceError extends Error {
  constructor(
    readonly code: InferenceErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'InferenceError';
  }
}
