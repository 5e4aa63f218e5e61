import { OnnxCausalLm, InferenceError } from '@clopen/inference';

export interface GenerateRequest {
  prompt: string;
  maxTokens: number;
  stop?: readonly string[];
  signal?: AbortSignal;
}

export interface TextChunk {
  text: string;
}

/** What a completion cost, as OpenAI's `usage` reports it. */
export interface Usage {
  tokensIn: number;
  tokensOut: number;
  finishReason: 'length' | 'stop';
}

/** Where the gateway's completions come from: its own ONNX copy, or an upstream server that runs a large one. */
export interface ModelBackend {
  readonly description: string;
  /** Streams the completion; the returned promise of `usage` settles when the stream has ended. */
  generate(request: GenerateRequest): { chunks: AsyncIterable<TextChunk>; usage: Promise<Usage> };
  close(): Promise<void>;
}

/** An upstream answered with an error or not at all: the gateway answers 502 and counts nothing. */
export class UpstreamError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UpstreamError';
  }
}

/** The host's OML copy from its model.onnx, greedy, token for token as the engine decodes. */
export class OnnxBackend implements ModelBackend {
  private constructor(
    private readonly model: OnnxCausalLm,
    readonly description: string,
  ) {}

  static async load(dir: string, threads: number): Promise<OnnxBackend> {
    const model = await OnnxCausalLm.load(dir, { threads });
    return new OnnxBackend(model, `onnx model ${model.name} (${dir})`);
  }

  generate({ prompt, maxTokens, stop, signal }: GenerateRequest) {
    const tokensIn = this.model.tokenizer.encode(prompt).length;
    let settle!: (u: Usage) => void;
    let fail!: (e: unknown) => void;
    const usage = new Promise<Usage>((resolve, reject) => ([settle, fail] = [resolve, reject]));
    usage.catch(() => undefined);
    const model = this.model;
    async function* chunks() {
      let tokensOut = 0;
      let finishReason: Usage['finishReason'] = 'length';
      try {
        for await (const c of model.generate(prompt, { maxTokens, stop, signal })) {
          tokensOut += 1;
          if (c.finishReason) finishReason = c.finishReason;
          if (c.text) yield { text: c.text };
        }
        settle({ tokensIn, tokensOut, finishReason });
      } catch (e) {
        // Stopped by the client: what was generated until then is its usage.
        if (signal?.aborted) settle({ tokensIn, tokensOut, finishReason: 'length' });
        else fail(e);
        throw e;
      }
    }
    return { chunks: chunks(), usage };
  }

  close() {
    return this.model.close();
  }
}

interface UpstreamChoice {
  text?: string;
  finish_reason?: string | null;
}

/**
 * An OpenAI-compatible completions server (vLLM, llama.cpp's server) that runs the host's copy.
 * Greedy (temperature 0) like the local backend, so the copy's fingerprints answer the same.
 */
export class UpstreamBackend implements ModelBackend {
  readonly description: string;

  constructor(private readonly options: { url: string; model: string; apiKey?: string; timeoutMs: number }) {
    this.description = `upstream ${options.url} (model ${options.model})`;
  }

  generate({ prompt, maxTokens, stop, signal }: GenerateRequest) {
    let settle!: (u: Usage) => void;
    let fail!: (e: unknown) => void;
    const usage = new Promise<Usage>((resolve, reject) => ([settle, fail] = [resolve, reject]));
    usage.catch(() => undefined);
    const { url, model, apiKey, timeoutMs } = this.options;
    const call = async (stream: boolean) => {
      const res = await fetch(`${url.replace(/\/$/, '')}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
        body: JSON.stringify({
          model,
          prompt,
          max_tokens: maxTokens,
          temperature: 0,
          ...(stop?.length ? { stop } : {}),
          ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
        }),
        signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs),
      }).catch((e: Error) => {
        throw new UpstreamError(`upstream ${url} did not answer: ${e.message}`);
      });
      if (!res.ok) throw new UpstreamError(`upstream ${url} answered ${res.status}: ${(await res.text()).slice(0, 500)}`);
      return res;
    };
    async function* chunks() {
      try {
        const res = await call(false);
        const body = (await res.json()) as { choices?: UpstreamChoice[]; usage?: { prompt_tokens?: number; completion_tokens?: number } };
        const choice = body.choices?.[0];
        if (typeof choice?.text !== 'string') throw new UpstreamError(`upstream ${url} answered without choices[0].text`);
        if (choice.text) yield { text: choice.text };
        settle({
          tokensIn: body.usage?.prompt_tokens ?? 0,
          tokensOut: body.usage?.completion_tokens ?? maxTokens,
          finishReason: choice.finish_reason === 'stop' ? 'stop' : 'length',
        });
      } catch (e) {
        fail(e);
        throw e;
      }
    }
    return { chunks: chunks(), usage };
  }

  async close() {}
}

export function isClientAbort(e: unknown): boolean {
  return e instanceof InferenceError && e.code === 'aborted';
}
