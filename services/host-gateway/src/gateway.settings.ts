import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { baseSettings, busSettings, setting, type loadConfig } from '@clopen/config';

const keySpec = (what: string) =>
  z.string().transform((spec, ctx) => {
    const m = /^([A-Za-z0-9_-]{1,32}):([A-Za-z0-9+/=_-]+)$/.exec(spec.trim());
    const seed = m ? Buffer.from(m[2], m[2].includes('-') || m[2].includes('_') ? 'base64url' : 'base64') : undefined;
    if (!m || seed?.length !== 32) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be "keyId:base64 of a 32-byte ed25519 seed" (${what})` });
      return z.NEVER;
    }
    return { keyId: m[1], seed: seed! };
  });

export const gatewaySettings = {
  ...baseSettings,
  ...busSettings,
  /** The host's EVM private key (0x…): its address is the host's identity in licences, grants and receipts. */
  GATEWAY_HOST_KEY: z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'must be a 0x-prefixed 32-byte hex private key'),
  /** The ed25519 key that signs answers and receipts, registered with the access service under its key id. */
  GATEWAY_SERVING_KEY: keySpec('the serving key'),
  /** The model (storage model id) this gateway serves; permission strings must be for it. */
  GATEWAY_MODEL_ID: z.string().min(1),
  /** A model folder with model.onnx and tokenizer.json (the host's OML copy); or set GATEWAY_UPSTREAM_URL. */
  GATEWAY_MODEL_DIR: z.string().min(1).optional(),
  /** This host's licence: the gateway fetches its own copy into GATEWAY_MODEL_DIR from distribution at start. */
  GATEWAY_LICENCE_ID: z.string().uuid().optional(),
  DISTRIBUTION_URL: setting.url(['http', 'https']).optional(),
  /** An OpenAI-compatible server (vLLM, llama.cpp server) that runs a large copy; the gateway forwards to it. */
  GATEWAY_UPSTREAM_URL: setting.url(['http', 'https']).optional(),
  /** The model name the upstream serves. */
  GATEWAY_UPSTREAM_MODEL: z.string().min(1).optional(),
  GATEWAY_UPSTREAM_API_KEY: z.string().min(1).optional(),
  GATEWAY_UPSTREAM_TIMEOUT_MS: setting.positiveInt.default(120_000),
  /** onnxruntime threads for the local model. */
  GATEWAY_THREADS: setting.positiveInt.max(256).default(availableParallelism()),
  /** Longest completion a request may ask for. */
  GATEWAY_MAX_TOKENS: setting.positiveInt.max(32_768).default(512),
  /** The access service: issuer keys (GET /issuers) and this host's serving key registration. */
  ACCESS_URL: setting.url(['http', 'https']),
  /** How often the issuer keys are fetched again (the access service rotates them). */
  GATEWAY_ISSUER_REFRESH_SECONDS: setting.positiveInt.default(300),
  /** How often the gateway asks access whether its licence still holds; it stops serving within this once it ended. */
  GATEWAY_LICENCE_CHECK_SECONDS: setting.positiveInt.max(300).default(2),
  /** Requests of a grant's quota leased from access at a time (quota across hosts; see access's quota leases). */
  GATEWAY_QUOTA_BLOCK: setting.positiveInt.max(10_000).default(8),
  /** Tokens of a grant's token quota leased at a time. */
  GATEWAY_QUOTA_TOKEN_BLOCK: setting.positiveInt.default(4096),
  /** A grant's lease unused this long goes back to access, for other hosts to serve. */
  GATEWAY_QUOTA_IDLE_SECONDS: setting.positiveInt.default(30),
  /** Receipts wait here until JetStream has them: a directory of this gateway alone, on a persistent volume. */
  GATEWAY_SPOOL_DIR: z.string().min(1).default('.local/gateway-spool'),
  GATEWAY_RECEIPT_BATCH: setting.positiveInt.max(10_000).default(500),
  GATEWAY_RECEIPT_FLUSH_MS: setting.positiveInt.default(1_000),
};

export type GatewayConfig = ReturnType<typeof loadConfig<typeof gatewaySettings>>;
