import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { HOST_AUTH_HEADER, signHostRequest } from '@clopen/host-auth';
import type { Client } from 'openapi-fetch';
import type { LocalAccount } from 'viem/accounts';
import {
  ApiProblem,
  apiClient,
  call,
  type AccessPaths,
  type AccessSchemas,
  type DistributionPaths,
  type DistributionSchemas,
  type IncentivesPaths,
  type IncentivesSchemas,
  type StoragePaths,
  type StorageSchemas,
} from '@clopen/api-client';

/** The services the CLI talks to; each answers errors as RFC 9457 problems (libs/service-kit). */
export type ServiceName = 'storage' | 'distribution' | 'access' | 'incentives';

export interface ClientConfig {
  urls: Record<ServiceName, string>;
  apiKey?: string;
  /** Replaced in tests; the global fetch otherwise. */
  fetch?: typeof fetch;
}

/**
 * A call failed: libs/api-client's ApiProblem, under the name the CLI has always thrown. `status`
 * is the HTTP status (0 when the service could not be reached), `code` the service's error code
 * (`not_found`, `unauthenticated`, …) and `message` the service's own, prefixed with its name.
 */
export { ApiProblem as ApiError };

// What the services answer, from their OpenAPI documents (dates arrive as ISO strings).
export type Model = StorageSchemas['ModelDto'];
export type Version = StorageSchemas['VersionDto'];
export type Licence = DistributionSchemas['LicenceDto'];
export type EmbeddingStatus = DistributionSchemas['EmbeddingStatusDto'];
export type TraceChallenge = DistributionSchemas['ChallengeDto'];
export type Trace = DistributionSchemas['TraceDto'];
export type Grant = AccessSchemas['GrantDto'];
export type IssueGrantInput = AccessSchemas['BuyGrantBody'];
export type Epoch = AccessSchemas['EpochDto'];
export type Violation = AccessSchemas['ViolationDto'];
export type ProverChallenge = AccessSchemas['ChallengeDto'];
export type ProofAnswer = AccessSchemas['ProofBody']['answers'][number];
export type ProofVerdict = AccessSchemas['ProofVerdictDto'];
/** Distribution's trace as access's verdict carries it. */
export type ProverTrace = NonNullable<ProofVerdict['trace']>;
export type Balances = IncentivesSchemas['BalanceDto'];

/** The `metadata` field that opens an upload form (storage's UploadMetadataDto). */
export type VersionMetadata = StorageSchemas['UploadMetadataDto'];
/** A file as an upload declares it, before its bytes follow. */
export type UploadFile = VersionMetadata['files'][number];
/** A local file to upload: its name in the version and where it is on disk. */
export interface LocalFile extends UploadFile {
  dir: string;
}

/** The routes libs/service-kit serves in every service, typed from one service's document. */
type ServiceKitPaths = Pick<AccessPaths, '/admin/dead-letters' | '/admin/dead-letters/{seq}/redrive'>;

/** A signed call carries no API key. */
const WITHOUT_KEY = { authorization: null };

const NO_KEY = 'no API key: pass --api-key or set CLOPEN_API_KEY (`npm start` writes the admin key to .local/admin-api-key)';

/** The services' REST APIs through their generated clients; one method per call the CLI makes. */
export class ClopenClient {
  private readonly fetch: typeof fetch;
  private readonly storage: Client<StoragePaths>;
  private readonly distribution: Client<DistributionPaths>;
  private readonly access: Client<AccessPaths>;
  private readonly incentives: Client<IncentivesPaths>;

  constructor(private readonly config: ClientConfig) {
    this.fetch = config.fetch ?? fetch;
    this.storage = this.api('storage');
    this.distribution = this.api('distribution');
    this.access = this.api('access');
    this.incentives = this.api('incentives');
  }

  // storage
  createModel(body: StorageSchemas['RegisterModelBody']) {
    return this.call('storage', () => this.storage.POST('/models', { body }));
  }
  listModels(query: { ownerId?: string; after?: string; limit?: number }) {
    return this.call('storage', () => this.storage.GET('/models', { params: { query } }));
  }
  getModel(id: string) {
    return this.call('storage', () => this.storage.GET('/models/{id}', { params: { path: { id } } }));
  }
  listVersions(modelId: string) {
    return this.call('storage', () => this.storage.GET('/models/{id}/versions', { params: { path: { id: modelId } } }));
  }
  getVersion(id: string) {
    return this.call('storage', () => this.storage.GET('/versions/{id}', { params: { path: { id } } }));
  }
  lineage(id: string) {
    return this.call('storage', () => this.storage.GET('/versions/{id}/lineage', { params: { path: { id } } }));
  }

  /**
   * Publishes a version as storage takes it: one multipart/form-data request, the metadata field
   * first, then each file streamed from disk. `onBytes` is told of every chunk sent.
   */
  publishVersion(modelId: string, metadata: VersionMetadata, files: LocalFile[], onBytes?: (n: number) => void): Promise<Version> {
    const boundary = `----clopen${randomBytes(12).toString('hex')}`;
    return this.call('storage', () =>
      this.storage.POST('/models/{id}/versions', {
        params: { path: { id: modelId } },
        // The generated body type is the form's fields; the stream is that form, already encoded.
        body: multipart(boundary, metadata, files, onBytes) as never,
        bodySerializer: (b: unknown) => b,
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
        duplex: 'half',
      }),
    );
  }

  // distribution
  createLicence(body: DistributionSchemas['GrantLicenceBody']) {
    return this.call('distribution', () => this.distribution.POST('/licences', { body }));
  }
  listLicences(query: { versionId?: string; host?: string; status?: 'active' | 'ended' }) {
    return this.call('distribution', () => this.distribution.GET('/licences', { params: { query } }));
  }
  embeddingStatus(licenceId: string) {
    return this.call('distribution', () => this.distribution.GET('/licences/{id}/embedding', { params: { path: { id: licenceId } } }));
  }
  cancelEmbedding(licenceId: string) {
    return this.call('distribution', () => this.distribution.POST('/licences/{id}/embedding/cancel', { params: { path: { id: licenceId } } }));
  }
  retryEmbedding(licenceId: string) {
    return this.call('distribution', () => this.distribution.POST('/licences/{id}/embedding/retry', { params: { path: { id: licenceId } } }));
  }
  traceChallenge(versionId: string, keys?: number) {
    return this.call('distribution', () =>
      this.distribution.POST('/versions/{versionId}/challenges', { params: { path: { versionId } }, body: keys ? { keys } : {} }),
    );
  }
  trace(challengeId: string, responses: DistributionSchemas['TraceRequestBody']['responses']) {
    return this.call('distribution', () => this.distribution.POST('/challenges/{id}/trace', { params: { path: { id: challengeId } }, body: { responses } }));
  }

  // access
  issueGrant(body: IssueGrantInput) {
    return this.call('access', () => this.access.POST('/grants', { body }));
  }
  revokeGrant(id: string, reason: string) {
    return this.call('access', () => this.access.POST('/grants/{id}/revoke', { params: { path: { id } }, body: { reason } }));
  }
  listEpochs(query: { before?: number; limit?: number }) {
    return this.call('access', () => this.access.GET('/epochs', { params: { query } }));
  }
  listViolations() {
    return this.call('access', () => this.access.GET('/violations'));
  }
  getViolation(id: string) {
    return this.call('access', () => this.access.GET('/violations/{id}', { params: { path: { id } } }));
  }
  /** A prover's challenge for an endpoint, signed with the prover's EVM key (libs/host-auth) instead of an API key. */
  async proverChallenge(prover: LocalAccount, body: AccessSchemas['ChallengeRequestBody']) {
    const { header, json } = await signedBy(prover, '/prover/challenges', body);
    return this.call(
      'access',
      () => this.access.POST('/prover/challenges', { params: { header }, body, bodySerializer: () => json, headers: WITHOUT_KEY }),
      'signed',
    );
  }
  async proverProof(prover: LocalAccount, challengeId: string, answers: ProofAnswer[]) {
    const body = { answers };
    const { header, json } = await signedBy(prover, `/prover/challenges/${encodeURIComponent(challengeId)}/proof`, body);
    return this.call(
      'access',
      () =>
        this.access.POST('/prover/challenges/{id}/proof', {
          params: { path: { id: challengeId }, header },
          body,
          bodySerializer: () => json,
          headers: WITHOUT_KEY,
        }),
      'signed',
    );
  }

  // incentives
  balances(address: string) {
    return this.call('incentives', () => this.incentives.GET('/balances/{address}', { params: { path: { address } } }), 'optional');
  }

  // every service with consumers: its dead letters (role admin)
  deadLetters(service: ServiceName, query: { subject?: string; after?: number; limit?: number; unhandled?: 'true' }) {
    return this.call(service, () => this.api<ServiceKitPaths>(service).GET('/admin/dead-letters', { params: { query } }));
  }
  redriveDeadLetter(service: ServiceName, seq: number) {
    return this.call(service, () => this.api<ServiceKitPaths>(service).POST('/admin/dead-letters/{seq}/redrive', { params: { path: { seq } } }));
  }

  /** A completion request to a suspect endpoint, as a user without a permission string sends it. */
  async askEndpoint(endpoint: string, body: string): Promise<ProofAnswer & { queryId: '' }> {
    const url = `${endpoint.replace(/\/+$/, '')}/v1/completions`;
    let res: Response;
    try {
      res = await this.fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    } catch (e) {
      throw new ApiProblem('endpoint', 0, 'unavailable', `the endpoint ${url} is unreachable: ${reasonOf(e)}`);
    }
    const receipt = res.headers.get('x-clopen-receipt') ?? undefined;
    return { queryId: '', status: res.status, body: await res.text(), ...(receipt ? { receipt } : {}) };
  }

  /** A service's generated client; a connection that fails is reported with the URL it went to. */
  private api<Paths extends object>(service: ServiceName): Client<Paths> {
    const base = this.base(service);
    // Redirects are not followed: the API key stays with the service it was given for.
    const client = apiClient<Paths>(base, {
      service,
      apiKey: this.config.apiKey,
      headers: { accept: 'application/json' },
      fetch: (input, init) => this.fetch(input, { ...init, redirect: 'manual' }),
    });
    client.use({
      onError({ error }) {
        throw new ApiProblem(service, 0, 'unavailable', `${service} at ${base} is unreachable or cut the connection: ${reasonOf(error)}`);
      },
    });
    return client;
  }

  /**
   * One call: refused before it is sent when it needs an API key and there is none; an answer
   * that breaks off is reported as such, and every error the service answers is its ApiProblem.
   */
  private async call<T>(service: ServiceName, send: () => Promise<{ data?: T; response: Response }>, auth: 'key' | 'optional' | 'signed' = 'key'): Promise<T> {
    if (auth === 'key' && !this.config.apiKey) throw new ApiProblem(service, 0, 'unauthenticated', NO_KEY);
    try {
      return await call(send());
    } catch (e) {
      if (e instanceof ApiProblem) throw e;
      const base = this.base(service);
      if (e instanceof SyntaxError)
        throw new ApiProblem(service, 0, 'invalid_answer', `${service} at ${base} answered something other than JSON: ${e.message}`);
      throw new ApiProblem(service, 0, 'unavailable', `${service} at ${base} cut the connection while answering: ${reasonOf(e)}`);
    }
  }

  private base(service: ServiceName): string {
    return this.config.urls[service].replace(/\/+$/, '');
  }
}

/**
 * The host-auth header of a call to access signed with a prover's EVM key (libs/host-auth): it
 * covers the method, the path and the body, so the body is sent exactly as it was signed.
 */
async function signedBy(prover: LocalAccount, path: string, body: unknown): Promise<{ header: { [HOST_AUTH_HEADER]: string }; json: string }> {
  const json = JSON.stringify(body);
  return { header: { [HOST_AUTH_HEADER]: await signHostRequest(prover, { audience: 'access', method: 'POST', path, body: json }) }, json };
}

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
