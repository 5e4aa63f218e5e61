import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { components as AccessComponents, paths as AccessPaths } from './generated/access';
import type { components as ChainIndexerComponents, paths as ChainIndexerPaths } from './generated/chain-indexer';
import type { components as DistributionComponents, paths as DistributionPaths } from './generated/distribution';
import type { components as EmbedderComponents, paths as EmbedderPaths } from './generated/embedder';
import type { components as GatewayComponents, paths as GatewayPaths } from './generated/host-gateway';
import type { components as IncentivesComponents, paths as IncentivesPaths } from './generated/incentives';
import type { components as StorageComponents, paths as StoragePaths } from './generated/storage';

export type { AccessPaths, ChainIndexerPaths, DistributionPaths, EmbedderPaths, GatewayPaths, IncentivesPaths, StoragePaths };

/** The response and request schemas of each service, by their names in its OpenAPI document. */
export type AccessSchemas = AccessComponents['schemas'];
export type ChainIndexerSchemas = ChainIndexerComponents['schemas'];
export type DistributionSchemas = DistributionComponents['schemas'];
export type EmbedderSchemas = EmbedderComponents['schemas'];
export type GatewaySchemas = GatewayComponents['schemas'];
export type IncentivesSchemas = IncentivesComponents['schemas'];
export type StorageSchemas = StorageComponents['schemas'];

/** Every service's error body: an RFC 9457 problem. */
export type Problem = StorageSchemas['Problem'];

/** A service answered with an error (or could not be reached: status 0, code `unavailable`). */
export class ApiProblem extends Error {
  constructor(
    readonly service: string,
    readonly status: number,
    readonly code: string,
    message: string,
    readonly type?: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ApiProblem';
  }
}

export interface ApiClientOptions {
  /** The service's name, for messages ("storage: model x does not exist"). */
  service: string;
  /** Sent as `Authorization: Bearer <key>`. */
  apiKey?: string;
  /** Headers sent with every call (a correlation id, a host session). */
  headers?: Record<string, string>;
  fetch?: typeof fetch;
}

/**
 * A typed client of one service: `api.GET('/versions/{id}', { params: { path: { id } } })` checks the
 * path, parameters and body against the service's OpenAPI document and types the answer. Use
 * `call()` to get the answer's data or an ApiProblem thrown.
 */
export function apiClient<Paths extends object>(baseUrl: string, options: ApiClientOptions): Client<Paths> {
  const client = createClient<Paths>({
    baseUrl: baseUrl.replace(/\/+$/, ''),
    fetch: options.fetch,
    headers: { ...options.headers, ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}) },
  });
  client.use(problems(options.service));
  return client;
}

/** Turns an error answer into an ApiProblem, and a refused connection into one with status 0. */
function problems(service: string): Middleware {
  return {
    async onResponse({ response }) {
      if (response.ok || (response.status >= 300 && response.status < 400)) return undefined;
      const text = await response.text();
      let body: Partial<Problem> | undefined;
      try {
        body = text ? (JSON.parse(text) as Partial<Problem>) : undefined;
      } catch {
        body = undefined;
      }
      const detail = typeof body?.detail === 'string' ? body.detail : text.slice(0, 300) || response.statusText;
      throw new ApiProblem(
        service,
        response.status,
        typeof body?.code === 'string' ? body.code : `http_${response.status}`,
        `${service}: ${detail}`,
        body?.type,
        body?.details as Record<string, unknown> | undefined,
      );
    },
    onError({ error }) {
      throw new ApiProblem(service, 0, 'unavailable', `${service} is unreachable: ${innermost(error)}`);
    },
  };
}

/** The innermost cause of a failed fetch (undici wraps the socket error in "fetch failed"). */
function innermost(e: unknown): string {
  let cur = e as { cause?: unknown; message?: string } | undefined;
  while (cur?.cause) cur = cur.cause as typeof cur;
  return cur?.message ?? String(e);
}

/** The data of a call, which an error answer would have thrown as an ApiProblem. */
export async function call<T>(request: Promise<{ data?: T; response: Response }>): Promise<T> {
  const { data, response } = await request;
  if (data === undefined && response.status !== 204)
    throw new ApiProblem('api', response.status, 'empty_answer', `${response.url}: answered ${response.status} without a body`);
  return data as T;
}
