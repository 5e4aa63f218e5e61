import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { HOST_AUTH_HEADER, signHostRequest } from '@clopen/host-auth';
import type { LocalAccount } from 'viem/accounts';
import type { AccessSchemas } from '@clopen/api-client';

/** The services the CLI talks to; each answers errors as `{"error": code, "message"}` (libs/service-kit). */
export type ServiceName = 'storage' | 'distribution' | 'access' | 'incentives';

export interface ClientConfig {
  urls: Record<ServiceName, string>;
  apiKey?: string;
  /** Replaced in tests; the global fetch otherwise. */
  fetch?: typeof fetch;
}

/**
 * A call failed. `status` is the HTTP status (0 when the service could not be reached) and
 * `code` the service's error code (`not_found`, `unauthenticated`, …); `message` is the
 * service's own message, prefixed with the service's name.
 */
export class ApiError extends Error {
  constructor(
    readonly service: ServiceName | 'endpoint',
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

// What the services answer, as far as the CLI reads it (dates arrive as ISO strings).
export interface Model {
  id: string;
  name: string;
  ownerId: string;
  description: string;
  createdAt: string;
}
export interface VersionFile {
  path: string;
  size: number;
  sha256: string;
  contentType?: string;
}
export interface Version {
  id: string;
  modelId: string;
  label: string;
  kind: 'base' | 'finetune' | 'oml' | 'quantized' | 'merge';
  parents: string[];
  licence: Record<string, unknown>;
  weights: unknown;
  manifestSha256: string;
  totalBytes: number;
  publishedAt: string;
  files: VersionFile[];
}
export interface VersionMetadata {
  label: string;
  kind: Version['kind'];
  parents: string[];
  licence: Record<string, unknown>;
  files: VersionFile[];
}
export interface Licence {
  id: string;
  modelId: string;
  versionId: string;
  hostAddress: string;
  origin: string;
  status: 'active' | 'ended';
  endedReason: string | null;
  createdAt: string;
  endedAt: string | null;
}
export interface EmbeddingStatus {
  licenceId: string;
  jobId: string;
  state: 'waiting_for_pool' | 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
  phase: string;
  percent: number;
  attempts: number;
  maxAttempts: number;
  reason: string | null;
  copyVersionId: string | null;
  embedded: number | null;
  fingerprintCount: number | null;
  updatedAt: string;
}
export interface Grant {
  id: string;
  modelId: string;
  userId: string;
  hosts: string[];
  quota: { requests: number; tokens: number };
  notBefore: string;
  expiresAt: string;
  issuerKeyId: string;
  grant: string;
  issuerSignature: string;
  revokedAt: string | null;
  revokedReason: string | null;
}
export interface IssueGrantInput {
  modelId: string;
  userPublicKey: string;
  quota: { requests?: number; tokens?: number };
  days: number;
  hosts?: string[];
}
export interface Epoch {
  number: number;
  startedAt: string;
  endedAt: string;
  receiptCount: number;
  root: string;
}
export interface AccusedHost {
  hostAddress: string;
  role: 'served_without_permission' | 'copy_licensee' | 'serving_host';
  pValue: number;
}
export interface Violation {
  id: string;
  challengeId: string;
  versionId: string;
  endpoint: string;
  prover: string;
  kind: 'served_without_permission' | 'unlicensed_copy';
  accused: AccusedHost[];
  evidenceSha256: string;
  queries: number;
  keysAsked: number;
  keysAnswered: number;
  unpermittedAnswers: number;
  traceId: string | null;
  falseAccusation: number;
  createdAt: string;
  evidence?: unknown;
}
export interface HostScore {
  hostAddress: string;
  licenceId: string;
  answeredHeld: number;
  score: number;
  pValue: number;
  accused: boolean;
}
export interface Trace {
  id?: string;
  traceId?: string;
  versionId: string;
  keysAsked: number;
  keysAnswered: number;
  outcome: 'accused' | 'no-significant-host' | 'too-few-answers' | string;
  falseAccusation: number;
  scores: HostScore[];
  accused: string[];
}
export interface TraceChallenge {
  challengeId: string;
  versionId: string;
  keys: { index: number; key: string }[];
}
export interface ProverChallenge {
  challengeId: string;
  versionId: string;
  endpoint: string;
  queries: { id: string; body: string }[];
}
export interface ProofAnswer {
  queryId: string;
  status: number;
  body: string;
  receipt?: string;
}
export interface ProofVerdict {
  challengeId: string;
  outcome: 'violation' | 'no_violation';
  violation?: Violation;
  keysAsked?: number;
  keysAnswered?: number;
  unpermittedAnswers?: number;
  falseAccusation?: number;
  trace: Trace | null;
}
export interface Balances {
  address: string;
  token: { address: string; symbol: string; balance: string };
  stakes: { modelId: string; active: string; unbonding: string; unbondingReadyAt: string | null }[];
  claims: { epoch: number | string; amount: string; claimed: boolean }[];
}
/** A local file to upload: its name in the version and where it is on disk. */
export interface LocalFile extends VersionFile {
  dir: string;
}

type Query = Record<string, string | number | undefined>;

/** The services' REST APIs, typed; one method per call the CLI makes. */
export class ClopenClient {
  private readonly fetch: typeof fetch;

  constructor(private readonly config: ClientConfig) {
    this.fetch = config.fetch ?? fetch;
  }

  // storage
  createModel(body: { name: string; description?: string; ownerId?: string }) {
    return this.call<Model>('storage', 'POST', '/models', { body });
  }
  listModels(query: { ownerId?: string; after?: string; limit?: number }) {
    return this.call<Model[]>('storage', 'GET', '/models', { query });
  }
  getModel(id: string) {
    return this.call<Model>('storage', 'GET', `/models/${seg(id)}`);
  }
  listVersions(modelId: string) {
    return this.call<Version[]>('storage', 'GET', `/models/${seg(modelId)}/versions`);
  }
  getVersion(id: string) {
    return this.call<Version>('storage', 'GET', `/versions/${seg(id)}`);
  }
  lineage(id: string) {
    return this.call<{ id: string; modelId: string; label: string; kind: string; parents: string[]; depth: number }[]>('storage', 'GET', `/versions/${seg(id)}/lineage`);
  }

  /**
   * Publishes a version as storage takes it: one multipart/form-data request, the metadata field
   * first, then each file streamed from disk. `onBytes` is told of every chunk sent.
   */
  async publishVersion(modelId: string, metadata: VersionMetadata, files: LocalFile[], onBytes?: (n: number) => void): Promise<Version> {
    const boundary = `----clopen${randomBytes(12).toString('hex')}`;
    const body = multipart(boundary, metadata, files, onBytes);
    return this.call<Version>('storage', 'POST', `/models/${seg(modelId)}/versions`, {
      raw: body,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    });
  }

  // distribution
  createLicence(body: { versionId: string; hostAddress: string }) {
    return this.call<Licence>('distribution', 'POST', '/licences', { body });
  }
  listLicences(query: { versionId?: string; host?: string; status?: string }) {
    return this.call<Licence[]>('distribution', 'GET', '/licences', { query });
  }
  embeddingStatus(licenceId: string) {
    return this.call<EmbeddingStatus>('distribution', 'GET', `/licences/${seg(licenceId)}/embedding`);
  }
  cancelEmbedding(licenceId: string) {
    return this.call<EmbeddingStatus>('distribution', 'POST', `/licences/${seg(licenceId)}/embedding/cancel`);
  }
  retryEmbedding(licenceId: string) {
    return this.call<EmbeddingStatus>('distribution', 'POST', `/licences/${seg(licenceId)}/embedding/retry`);
  }
  traceChallenge(versionId: string, keys?: number) {
    return this.call<TraceChallenge>('distribution', 'POST', `/versions/${seg(versionId)}/challenges`, { body: keys ? { keys } : {} });
  }
  trace(challengeId: string, responses: { index: number; output: string }[]) {
    return this.call<Trace>('distribution', 'POST', `/challenges/${seg(challengeId)}/trace`, { body: { responses } });
  }

  // access
  issueGrant(body: IssueGrantInput) {
    return this.call<Grant>('access', 'POST', '/grants', { body });
  }
  revokeGrant(id: string, reason: string) {
    return this.call<Grant>('access', 'POST', `/grants/${seg(id)}/revoke`, { body: { reason } });
  }
  listEpochs(query: { before?: number; limit?: number }) {
    return this.call<Epoch[]>('access', 'GET', '/epochs', { query });
  }
  listViolations() {
    return this.call<Violation[]>('access', 'GET', '/violations');
  }
  getViolation(id: string) {
    return this.call<Violation>('access', 'GET', `/violations/${seg(id)}`);
  }
  /** A prover's challenge for an endpoint, signed with the prover's EVM key (libs/host-auth). */
  proverChallenge(prover: LocalAccount, body: { versionId: string; endpoint: string; keys?: number }) {
    return this.call<ProverChallenge>('access', 'POST', '/prover/challenges', { body, signer: prover });
  }
  proverProof(prover: LocalAccount, challengeId: string, answers: ProofAnswer[]) {
    return this.call<ProofVerdict>('access', 'POST', `/prover/challenges/${seg(challengeId)}/proof`, { body: { answers }, signer: prover });
  }

  // incentives
  balances(address: string) {
    return this.call<Balances>('incentives', 'GET', `/balances/${seg(address)}`, { optionalKey: true });
  }

  // every service with consumers: its dead letters (role admin)
  deadLetters(service: ServiceName, query: { subject?: string; after?: number; limit?: number; unhandled?: 'true' }) {
    return this.call<AccessSchemas['DeadLetterPageDto']>(service, 'GET', '/admin/dead-letters', { query });
  }
  redriveDeadLetter(service: ServiceName, seq: number) {
    return this.call<AccessSchemas['RedriveResultDto']>(service, 'POST', `/admin/dead-letters/${seq}/redrive`);
  }

  /** A completion request to a suspect endpoint, as a user without a permission string sends it. */
  async askEndpoint(endpoint: string, body: string): Promise<ProofAnswer & { queryId: '' }> {
    const url = `${endpoint.replace(/\/+$/, '')}/v1/completions`;
    let res: Response;
    try {
      res = await this.fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    } catch (e) {
      throw new ApiError('endpoint', 0, 'unavailable', `the endpoint ${url} is unreachable: ${reasonOf(e)}`);
    }
    const receipt = res.headers.get('x-clopen-receipt') ?? undefined;
    return { queryId: '', status: res.status, body: await res.text(), ...(receipt ? { receipt } : {}) };
  }

  private async call<T>(
    service: ServiceName,
    method: 'GET' | 'POST',
    path: string,
    opts: { body?: unknown; raw?: AsyncIterable<Uint8Array>; query?: Query; headers?: Record<string, string>; signer?: LocalAccount; optionalKey?: boolean } = {},
  ): Promise<T> {
    const base = this.config.urls[service].replace(/\/+$/, '');
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined && v !== '') query.set(k, String(v));
    const fullPath = query.size ? `${path}?${query}` : path;
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    const json = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    if (json !== undefined) headers['content-type'] = 'application/json';
    if (opts.signer) {
      headers[HOST_AUTH_HEADER] = await signHostRequest(opts.signer, { audience: service, method, path: fullPath, body: json ?? '' });
    } else if (this.config.apiKey) {
      headers.authorization = `Bearer ${this.config.apiKey}`;
    } else if (!opts.optionalKey) {
      throw new ApiError(service, 0, 'unauthenticated', 'no API key: pass --api-key or set CLOPEN_API_KEY (`npm start` writes the admin key to .local/admin-api-key)');
    }
    let res: Response;
    try {
      res = await this.fetch(`${base}${fullPath}`, { method, headers, body: opts.raw ?? json, redirect: 'manual', ...(opts.raw ? { duplex: 'half' } : {}) } as RequestInit);
    } catch (e) {
      throw new ApiError(service, 0, 'unavailable', `${service} at ${base} is unreachable or cut the connection: ${reasonOf(e)}`);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (e) {
      throw new ApiError(service, 0, 'unavailable', `${service} at ${base} cut the connection while answering: ${reasonOf(e)}`);
    }
    let parsed: any;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      // The services answer RFC 9457 problems: `detail` in words, `code` for the kind of failure.
      const message = typeof parsed?.detail === 'string' ? parsed.detail : text.slice(0, 300) || res.statusText;
      throw new ApiError(service, res.status, typeof parsed?.code === 'string' ? parsed.code : `http_${res.status}`, `${service}: ${message}`, parsed?.details);
    }
    return parsed as T;
  }
}

const seg = (s: string) => encodeURIComponent(s);

/** The innermost cause of a failed fetch (undici wraps the socket error in "fetch failed"). */
function reasonOf(e: unknown): string {
  let cur: any = e;
  while (cur?.cause) cur = cur.cause;
  const code = typeof cur?.code === 'string' && !String(cur?.message).includes(cur.code) ? ` (${cur.code})` : '';
  return `${cur?.message ?? String(e)}${code}`;
}

/** The form storage expects, streamed: nothing is read into memory beyond a chunk of a file. */
async function* multipart(boundary: string, metadata: VersionMetadata, files: LocalFile[], onBytes?: (n: number) => void): AsyncGenerator<Uint8Array> {
  const enc = (s: string) => Buffer.from(s, 'utf8');
  yield enc(`--${boundary}\r\nContent-Disposition: form-data; name="metadata"\r\nContent-Type: application/json\r\n\r\n${JSON.stringify(metadata)}\r\n`);
  for (const f of files) {
    yield enc(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${f.path}"\r\nContent-Type: application/octet-stream\r\n\r\n`);
    for await (const chunk of createReadStream(join(f.dir, f.path), { highWaterMark: 1 << 20 })) {
      yield chunk as Buffer;
      onBytes?.((chunk as Buffer).length);
    }
    yield enc('\r\n');
  }
  yield enc(`--${boundary}--\r\n`);
}
