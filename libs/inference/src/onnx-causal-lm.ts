import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { BpeTokenizer } from './bpe-tokenizer';
import { InferenceError } from './inference-error';

/**
 * A model folder served from its model.onnx (written by the engine's `export-onnx` job) with
 * onnxruntime-node, decoding greedily exactly as the PyTorch engine's gpt.greedy and serve.py do:
 * the prompt is preceded by `<|endoftext|>`, each step runs the whole sequence cut to its last
 * n_positions tokens (no KV cache, so truncation behaves identically), the next token is the
 * first argmax, and `<|endoftext|>` is generated like any token but decodes to nothing.
 */

export const MODEL_ONNX = 'model.onnx';
const REQUIRED_FILES = ['config.json', 'tokenizer.json', MODEL_ONNX] as const;

export type FinishReason = 'length' | 'stop';

export interface LoadOptions {
  /** onnxruntime's intra-op threads for one step; its default (all cores) when absent. */
  threads?: number;
  /** Reported as `model.name`; the folder's name when absent. */
  name?: string;
}

export interface GenerateOptions {
  /** Tokens to generate, at least 1; fewer when a stop sequence ends the text. */
  maxTokens: number;
  /** Strings that end the text where they first appear; they are not part of it (OpenAI's `stop`). */
  stop?: string | readonly string[];
  /**
   * End when the model generates `<|endoftext|>` (finish reason 'stop'). Off by default, as in
   * the engine, which decodes a fixed number of tokens and drops end-of-text from the text.
   */
  stopAtEndOfText?: boolean;
  /** Aborting stops generation before the next step; iteration then throws InferenceError('aborted'). */
  signal?: AbortSignal;
}

export interface GeneratedChunk {
  /** Text this token completes: empty while it holds only part of a UTF-8 character or maybe part of a stop sequence. */
  text: string;
  tokenId: number;
  /** Set on the last chunk only. */
  finishReason?: FinishReason;
}

export interface Completion {
  text: string;
  /** Tokens of the prompt as given; the `<|endoftext|>` put before it is not counted. */
  tokensIn: number;
  /** Tokens generated, the one that completed a stop sequence included. */
  tokensOut: number;
  finishReason: FinishReason;
}

interface GptConfig {
  vocab_size: number;
  n_positions: number;
}

async function readJson(file: string): Promise<unknown> {
  const text = await fs.readFile(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InferenceError('invalid_model', `${file} is not JSON: ${(error as Error).message}`);
  }
}

function argmax(data: Float32Array, offset: number, length: number): number {
  // torch.argmax: the first maximum, and NaN counts as the maximum.
  let best = 0;
  let bestValue = data[offset];
  if (Number.isNaN(bestValue)) return 0;
  for (let i = 1; i < length; i++) {
    const v = data[offset + i];
    if (Number.isNaN(v)) return i;
    if (v > bestValue) {
      best = i;
      bestValue = v;
    }
  }
  return best;
}

/** Length of the longest end of `text` that begins one of `stops`: text that may still become a stop sequence. */
function pendingStopPrefix(text: string, stops: readonly string[]): number {
  let longest = 0;
  for (const stop of stops) {
    for (let n = Math.min(stop.length - 1, text.length); n > longest; n--) {
      if (text.endsWith(stop.slice(0, n))) {
        longest = n;
        break;
      }
    }
  }
  return longest;
}

export class OnnxCausalLm {
  private constructor(
    readonly name: string,
    readonly tokenizer: BpeTokenizer,
    /** n_positions: the most tokens one step sees; longer sequences keep their last ones. */
    readonly contextLength: number,
    private readonly session: ort.InferenceSession,
  ) {}

  /** Loads config.json, tokenizer.json and model.onnx from a model folder. */
  static async load(modelDir: string, options: LoadOptions = {}): Promise<OnnxCausalLm> {
    for (const file of REQUIRED_FILES) {
      try {
        await fs.access(path.join(modelDir, file));
      } catch {
        const hint =
          file === MODEL_ONNX
            ? `; export it with exportOnnx(modelDir) from @clopen/fingerprint (the engine's export-onnx job)`
            : '; a model folder needs config.json, tokenizer.json and model.onnx';
        throw new InferenceError('missing_file', `${modelDir} has no ${file}${hint}`);
      }
    }
    const config = (await readJson(path.join(modelDir, 'config.json'))) as Partial<GptConfig> | null;
    const missing = (['vocab_size', 'n_positions'] as const).filter((k) => !Number.isInteger(config?.[k]) || (config?.[k] as number) < 1);
    if (missing.length > 0) {
      throw new InferenceError('invalid_model', `${modelDir}/config.json lacks the GPT-2 keys ${missing.join(', ')} (positive integers)`);
    }
    const tokenizer = await BpeTokenizer.fromFile(path.join(modelDir, 'tokenizer.json'));
    if (tokenizer.size > (config as GptConfig).vocab_size) {
      throw new InferenceError(
        'invalid_model',
        `${modelDir}: tokenizer.json has ${tokenizer.size} tokens but config.json's vocab_size is ${(config as GptConfig).vocab_size}`,
      );
    }
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(path.join(modelDir, MODEL_ONNX), {
        intraOpNumThreads: options.threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3,
      });
    } catch (error) {
      throw new InferenceError('invalid_model', `${modelDir}/${MODEL_ONNX} cannot be loaded by onnxruntime: ${(error as Error).message}`, {
        cause: error,
      });
    }
    if (!session.inputNames.includes('input_ids') || !session.outputNames.includes('logits')) {
      await session.release();
      throw new InferenceError(
        'invalid_model',
        `${modelDir}/${MODEL_ONNX} has inputs [${session.inputNames.join(', ')}] and outputs [${session.outputNames.join(', ')}]; ` +
          'expected input_ids and logits, as the export-onnx job writes',
      );
    }
    const name = options.name ?? path.basename(path.resolve(modelDir));
    return new OnnxCausalLm(name, tokenizer, (config as GptConfig).n_positions, session);
  }

  /** Greedy continuation of `prompt`, one chunk per generated token. */
  async *generate(prompt: string, options: GenerateOptions): AsyncGenerator<GeneratedChunk, void, undefined> {
    if (typeof prompt !== 'string') throw new InferenceError('invalid_input', 'the prompt must be a string');
    yield* this.decode(this.tokenizer.encode(prompt), options);
  }

  /** The whole greedy continuation of `prompt`, with token counts as OpenAI's `usage` reports them. */
  async complete(prompt: string, options: GenerateOptions): Promise<Completion> {
    if (typeof prompt !== 'string') throw new InferenceError('invalid_input', 'the prompt must be a string');
    const promptIds = this.tokenizer.encode(prompt);
    let text = '';
    let tokensOut = 0;
    let finishReason: FinishReason = 'length';
    for await (const chunk of this.decode(promptIds, options)) {
      text += chunk.text;
      tokensOut++;
      if (chunk.finishReason) finishReason = chunk.finishReason;
    }
    return { text, tokensIn: promptIds.length, tokensOut, finishReason };
  }

  /** Frees onnxruntime's session; the model cannot generate afterwards. */
  async close(): Promise<void> {
    await this.session.release();
  }

  private async *decode(promptIds: number[], options: GenerateOptions): AsyncGenerator<GeneratedChunk, void, undefined> {
    const { maxTokens, signal } = options;
    if (!Number.isInteger(maxTokens) || maxTokens < 1) {
      throw new InferenceError('invalid_input', `maxTokens must be an integer of at least 1, not ${maxTokens}`);
    }
    const stops = (typeof options.stop === 'string' ? [options.stop] : (options.stop ?? [])).filter((s) => s.length > 0);
    const ids = [this.tokenizer.eot, ...promptIds];
    const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
    let text = '';
    let emitted = 0;
    for (let step = 0; step < maxTokens; step++) {
      if (signal?.aborted) throw new InferenceError('aborted', `generation aborted after ${step} of ${maxTokens} tokens`);
      const tokenId = await this.next(ids);
      if (signal?.aborted) throw new InferenceError('aborted', `generation aborted after ${step} of ${maxTokens} tokens`);
      ids.push(tokenId);
      const endOfText = options.stopAtEndOfText === true && tokenId === this.tokenizer.eot;
      const last = step === maxTokens - 1 || endOfText;
      text += utf8.decode(this.tokenBytes(tokenId), { stream: !last });

      let stopAt = -1;
      for (const stop of stops) {
        // Text before `emitted` was checked: no stop sequence can begin there.
        const at = text.indexOf(stop, emitted);
        if (at >= 0 && (stopAt < 0 || at < stopAt)) stopAt = at;
      }
      if (stopAt >= 0) {
        yield { text: text.slice(emitted, stopAt), tokenId, finishReason: 'stop' };
        return;
      }
      if (last) {
        yield { text: text.slice(emitted), tokenId, finishReason: endOfText ? 'stop' : 'length' };
        return;
      }
      const safe = text.length - pendingStopPrefix(text, stops);
      yield { text: text.slice(emitted, safe), tokenId };
      emitted = Math.max(emitted, safe);
    }
  }

  private tokenBytes(tokenId: number): Uint8Array {
    try {
      return this.tokenizer.decodeBytes([tokenId]);
    } catch (error) {
      // Python's decode fails here too: config.json's vocab_size is larger than tokenizer.json.
      if (error instanceof InferenceError && error.code === 'invalid_input') {
        throw new InferenceError('invalid_model', `${this.name} generated token ${tokenId}, which tokenizer.json lacks (${this.tokenizer.size} tokens)`);
      }
      throw error;
    }
  }

  /** The greedy next token after `ids`, seeing only the last contextLength of them (as GPT.forward). */
  private async next(ids: readonly number[]): Promise<number> {
    const window = ids.length > this.contextLength ? ids.slice(ids.length - this.contextLength) : ids;
    const input = new ort.Tensor(
      'int64',
      BigInt64Array.from(window, (id) => BigInt(id)),
      [1, window.length],
    );
    const { logits } = await this.session.run({ input_ids: input });
    const dims = logits.dims;
    const vocab = dims[dims.length - 1];
    // [batch, vocab] from export-onnx; [batch, seq, vocab] from exporters that keep every position.
    const offset = dims.length === 3 ? (dims[1] - 1) * vocab : 0;
    const token = argmax(logits.data as Float32Array, offset, vocab);
    logits.dispose();
    input.dispose();
    return token;
  }
}
