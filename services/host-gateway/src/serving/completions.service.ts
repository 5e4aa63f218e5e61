import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { Request, Response } from 'express';
import { randomUUID } from 'node:crypto';
import { PERMISSION_HEADER, PermissionError, signReceipt, type VerifiedPermission } from '@clopen/host-sdk';
import { CHAT_STOP, chatPrompt, InferenceError } from '@clopen/inference';
import { accessV1, toBinary } from '@clopen/proto';
import { CONFIG, Metrics } from '@clopen/service-kit';
import { AccessLink } from '../access/access-link';
import { QuotaRefused } from '../access/quota-leases';
import type { GatewayConfig } from '../gateway.settings';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionInput,
  Completion,
  CompletionChunk,
  CompletionInput,
  ModelList,
  OpenAiError,
} from './completions.contracts';
import { fetchLicensedCopy } from './licensed-copy';
import { OnnxBackend, UpstreamBackend, UpstreamError, isClientAbort, type ModelBackend, type Usage } from './model-backend';

/** The host's signed usage receipt of an answer (base64url of a UsageReceipt): the user's proof of what was served. */
export const RECEIPT_HEADER = 'x-clopen-receipt';
/** The EVM address of the host that answered. */
export const HOST_HEADER = 'x-clopen-host';
/** The SSE event that carries the receipt at the end of a stream (OpenAI clients skip named events). */
export const RECEIPT_EVENT = 'clopen.receipt';

/** What to serve: a completion or a chat completion, its body already valid against its contract. */
export type CompletionRequest = { kind: 'completion'; input: CompletionInput } | { kind: 'chat'; input: ChatCompletionInput };

/** An OpenAI-style error body: what client libraries parse. */
function openAiError(res: Response, status: number, type: string, code: string, message: string) {
  res.status(status).json({ error: { message, type, code } } satisfies OpenAiError);
}

/**
 * OpenAI-compatible completions behind permission strings. A request is served only when its
 * permission string verifies for this host, this model and these exact body bytes; then the answer
 * is signed by the host (a usage receipt, returned to the user and published to the access
 * service). A refused request spends no counter, serves nothing and counts nothing.
 */
@Injectable()
export class CompletionsService implements OnModuleInit, OnApplicationShutdown {
  private readonly log = new Logger(CompletionsService.name);
  private backend!: ModelBackend;

  constructor(
    private readonly access: AccessLink,
    private readonly metrics: Metrics,
    @Inject(CONFIG) private readonly config: GatewayConfig,
  ) {}

  async onModuleInit() {
    const c = this.config;
    if (!!c.GATEWAY_MODEL_DIR === !!c.GATEWAY_UPSTREAM_URL)
      throw new Error('set exactly one of GATEWAY_MODEL_DIR (serve an ONNX copy) and GATEWAY_UPSTREAM_URL (forward to an OpenAI-compatible server)');
    if (c.GATEWAY_LICENCE_ID) {
      if (!c.GATEWAY_MODEL_DIR || !c.DISTRIBUTION_URL) throw new Error('GATEWAY_LICENCE_ID needs GATEWAY_MODEL_DIR (where the copy goes) and DISTRIBUTION_URL');
      const version = await fetchLicensedCopy({
        distributionUrl: c.DISTRIBUTION_URL,
        licenceId: c.GATEWAY_LICENCE_ID,
        account: this.access.account,
        dir: c.GATEWAY_MODEL_DIR,
        log: (m) => this.log.log(m),
      });
      this.log.log(`copy ${version} of licence ${c.GATEWAY_LICENCE_ID} is in ${c.GATEWAY_MODEL_DIR}`);
    }
    this.backend = c.GATEWAY_MODEL_DIR
      ? await OnnxBackend.load(c.GATEWAY_MODEL_DIR, c.GATEWAY_THREADS)
      : new UpstreamBackend({
          url: c.GATEWAY_UPSTREAM_URL!,
          model: c.GATEWAY_UPSTREAM_MODEL ?? c.GATEWAY_MODEL_ID,
          apiKey: c.GATEWAY_UPSTREAM_API_KEY,
          timeoutMs: c.GATEWAY_UPSTREAM_TIMEOUT_MS,
        });
    this.log.log(`serving model ${c.GATEWAY_MODEL_ID} from ${this.backend.description}`);
  }

  async onApplicationShutdown() {
    await this.backend?.close();
  }

  models(): ModelList {
    return { object: 'list', data: [{ id: this.config.GATEWAY_MODEL_ID, object: 'model', owned_by: this.access.host }] };
  }

  async serve({ kind, input }: CompletionRequest, req: Request & { rawBody?: Buffer }, res: Response): Promise<void> {
    const requests = this.metrics.counter(
      'gateway_requests_total',
      'Completion requests by outcome (served, refused with a permission reason, invalid, failed).',
      ['outcome'],
    );
    const raw = req.rawBody ?? Buffer.alloc(0);
    const modelId = this.config.GATEWAY_MODEL_ID;

    // 1. The body must be a request this gateway can serve (before any counter is spent); its contract checked its shape.
    let prompt: string;
    try {
      prompt = kind === 'chat' ? chatPrompt(input.messages) : input.prompt;
    } catch (e) {
      if (!(e instanceof InferenceError)) throw e;
      requests.inc({ outcome: 'invalid' });
      return openAiError(res, 400, 'invalid_request_error', 'invalid_request', `invalid request body: ${e.message}`);
    }
    if (input.model !== undefined && input.model !== modelId) {
      requests.inc({ outcome: 'invalid' });
      return openAiError(res, 404, 'invalid_request_error', 'model_not_found', `this host serves model ${modelId}, not ${input.model}`);
    }

    // 2. This host must be licensed for the model (a slashed or unstaked host serves nothing).
    const unlicensed = this.access.unlicensed;
    if (unlicensed) {
      requests.inc({ outcome: 'refused_unlicensed' });
      return openAiError(res, 403, 'permission_error', 'unlicensed', unlicensed);
    }

    // 3. The permission string: this user, this host, this model, these bytes, a fresh counter, quota left.
    let permission: VerifiedPermission;
    try {
      permission = this.access.verifier.verify(req.header(PERMISSION_HEADER), { model: modelId, body: raw });
    } catch (e) {
      if (!(e instanceof PermissionError)) throw e;
      requests.inc({ outcome: `refused_${e.reason}` });
      return openAiError(res, e.status, 'permission_error', e.reason, e.message);
    }

    let maxTokens = Math.min(input.max_tokens ?? 16, this.config.GATEWAY_MAX_TOKENS);

    // 4. The grant's quota across all hosts: one request (and the tokens it may use) from this gateway's lease.
    const limited = permission.requestsLeft !== null || permission.tokensLeft !== null;
    let reserved = 0;
    if (limited) {
      try {
        reserved = (await this.access.quota.reserve(permission.grantId, maxTokens)).tokens;
      } catch (e) {
        if (!(e instanceof QuotaRefused)) throw e;
        requests.inc({ outcome: `refused_${e.reason}` });
        return openAiError(
          res,
          e.status,
          e.status === 429 ? 'insufficient_quota' : e.status === 503 ? 'server_error' : 'permission_error',
          e.reason,
          e.message,
        );
      }
      maxTokens = Math.max(1, Math.min(maxTokens, reserved));
    }
    let servedUsage: Usage | undefined;
    const stops = [...(typeof input.stop === 'string' ? [input.stop] : (input.stop ?? [])), ...(kind === 'chat' ? CHAT_STOP : [])];
    const aborted = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) aborted.abort();
    });
    const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const { chunks, usage } = this.backend.generate({ prompt, maxTokens, stop: stops, signal: aborted.signal });
    const receiptFor = (responseBody: string, u: Usage) => {
      servedUsage = u;
      const receipt = signReceipt(this.access.servingKey, this.access.servingKeyId, {
        permission,
        host: this.access.host,
        requestBody: raw,
        responseBody,
        tokensIn: u.tokensIn,
        tokensOut: u.tokensOut,
      });
      this.access.receipts.record(receipt);
      this.access.verifier.recordTokens(permission.grantId, u.tokensIn + u.tokensOut);
      return Buffer.from(toBinary(accessV1.UsageReceiptSchema, receipt)).toString('base64url');
    };
    const usageJson = (u: Usage) => ({ prompt_tokens: u.tokensIn, completion_tokens: u.tokensOut, total_tokens: u.tokensIn + u.tokensOut });

    // Streamed frames already written: a client that leaves mid-stream was served them.
    let sent = '';
    let chunksSent = 0;
    try {
      if (!input.stream) {
        let text = '';
        for await (const c of chunks) text += c.text;
        const u = await usage;
        const answer: Completion | ChatCompletion =
          kind === 'chat'
            ? {
                id,
                object: 'chat.completion',
                created,
                model: modelId,
                choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: u.finishReason }],
                usage: usageJson(u),
              }
            : { id, object: 'text_completion', created, model: modelId, choices: [{ index: 0, text, finish_reason: u.finishReason }], usage: usageJson(u) };
        const body = JSON.stringify(answer);
        res
          .status(200)
          .set({ 'content-type': 'application/json', [HOST_HEADER]: this.access.host, [RECEIPT_HEADER]: receiptFor(body, u) })
          .send(body);
        requests.inc({ outcome: 'served' });
        return;
      }
      // Streaming: the receipt covers every byte before its own event, and comes last.
      res.status(200).set({ 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', [HOST_HEADER]: this.access.host });
      res.flushHeaders();
      const send = (data: CompletionChunk | ChatCompletionChunk) => {
        const frame = `data: ${JSON.stringify(data)}\n\n`;
        sent += frame;
        res.write(frame);
      };
      const tail = (u?: Usage) => (u ? { usage: usageJson(u) } : {});
      const chatChunk = (
        delta: ChatCompletionChunk['choices'][number]['delta'],
        finish_reason: Usage['finishReason'] | null,
        u?: Usage,
      ): ChatCompletionChunk => ({ id, object: 'chat.completion.chunk', created, model: modelId, choices: [{ index: 0, delta, finish_reason }], ...tail(u) });
      const textChunk = (text: string, finish_reason: Usage['finishReason'] | null, u?: Usage): CompletionChunk => ({
        id,
        object: 'text_completion',
        created,
        model: modelId,
        choices: [{ index: 0, text, finish_reason }],
        ...tail(u),
      });
      if (kind === 'chat') send(chatChunk({ role: 'assistant', content: '' }, null));
      for await (const c of chunks) {
        send(kind === 'chat' ? chatChunk({ content: c.text }, null) : textChunk(c.text, null));
        chunksSent += 1;
      }
      const u = await usage;
      send(kind === 'chat' ? chatChunk({}, u.finishReason, u) : textChunk('', u.finishReason, u));
      res.write(`event: ${RECEIPT_EVENT}\ndata: ${JSON.stringify({ receipt: receiptFor(sent, u), host: this.access.host })}\n\n`);
      res.end('data: [DONE]\n\n');
      requests.inc({ outcome: 'served' });
    } catch (e) {
      if (isClientAbort(e) || aborted.signal.aborted) {
        // A client that left mid-stream was served what it was sent: a receipt for that (and the request
        // is spent), so leaving before the last frame is no way around the quota. One that left before
        // any text was served nothing, and its request goes back to the lease.
        if (chunksSent > 0) {
          const u = await usage.catch(() => undefined);
          receiptFor(sent, { tokensIn: u?.tokensIn ?? 0, tokensOut: u?.tokensOut ?? chunksSent, finishReason: 'length' });
          requests.inc({ outcome: 'client_closed_served' });
          return;
        }
        requests.inc({ outcome: 'client_closed' });
        return;
      }
      requests.inc({ outcome: 'failed' });
      const [status, code] =
        e instanceof UpstreamError
          ? [502, 'upstream_error']
          : e instanceof InferenceError && e.code === 'invalid_input'
            ? [400, 'invalid_request']
            : [500, 'internal_error'];
      if (!(e instanceof UpstreamError) && !(e instanceof InferenceError)) this.log.error(`serving ${id} failed: ${(e as Error).stack}`);
      if (!res.headersSent) return openAiError(res, status, status === 400 ? 'invalid_request_error' : 'server_error', code, (e as Error).message);
      res.end(`event: error\ndata: ${JSON.stringify({ error: { message: (e as Error).message, type: 'server_error', code } } satisfies OpenAiError)}\n\n`);
    } finally {
      // Once it is known what was served: a receipt signed means the request and its tokens are spent.
      if (limited)
        this.access.quota.settle(permission.grantId, reserved, servedUsage ? servedUsage.tokensIn + servedUsage.tokensOut : 0, servedUsage !== undefined);
    }
  }
}
