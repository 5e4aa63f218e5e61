import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { KeyObject } from 'node:crypto';
import { privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts';
import { Bus } from '@clopen/bus';
import { HOST_AUTH_HEADER, HOST_SESSION_HEADER, signHostRequest } from '@clopen/host-auth';
import { PermissionVerifier, ReceiptPublisher, RevocationFeed, privateKeyFromSeed, publicKeyFromRaw, rawPublicKey } from '@clopen/host-sdk';
import { CONFIG, Metrics } from '@clopen/service-kit';
import type { GatewayConfig } from '../gateway.settings';
import { QuotaLeases, QuotaRefused, type Granted } from './quota-leases';

const START_ATTEMPTS = 30;

/**
 * Everything this host holds from and for the access service: its identity (EVM address and the
 * registered ed25519 serving key), the issuer keys and revocations a permission string is checked
 * against, and the receipt publisher with its spool.
 */
@Injectable()
export class AccessLink implements OnModuleInit, OnApplicationShutdown {
  private readonly log = new Logger(AccessLink.name);
  readonly account: PrivateKeyAccount;
  readonly servingKey: KeyObject;
  readonly servingKeyId: string;
  verifier!: PermissionVerifier;
  quota!: QuotaLeases;
  receipts!: ReceiptPublisher;
  private revocations?: RevocationFeed;
  private timers: NodeJS.Timeout[] = [];
  /** Whether access last said this host holds an active licence for GATEWAY_MODEL_ID, and why not. */
  private licence: { active: boolean; reason: string } = { active: false, reason: 'not checked yet' };
  /** The host session token access gave (POST /hosts/sessions), and when to renew it (ms). */
  private session?: { token: string; renewAt: number; expiresAt: number };
  private renewing?: Promise<void>;
  /** The licence check and handout pick-up in flight, one at a time. */
  private polling?: Promise<void>;

  constructor(
    private readonly bus: Bus,
    private readonly metrics: Metrics,
    @Inject(CONFIG) private readonly config: GatewayConfig,
  ) {
    this.account = privateKeyToAccount(config.GATEWAY_HOST_KEY as `0x${string}`);
    this.servingKey = privateKeyFromSeed(config.GATEWAY_SERVING_KEY.seed);
    this.servingKeyId = config.GATEWAY_SERVING_KEY.keyId;
  }

  get host(): string {
    return this.account.address;
  }

  /** Null while this host is licensed for the model it serves; else why it must not serve. */
  get unlicensed(): string | null {
    return this.licence.active ? null : this.licence.reason;
  }

  async onModuleInit() {
    // The access service may start after the gateway (compose, a rolling deploy): wait for it.
    let issuerKeys: Map<string, KeyObject>;
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.registerServingKey();
        issuerKeys = await this.issuerKeys();
        break;
      } catch (e) {
        if (attempt >= START_ATTEMPTS || (e as { fatal?: boolean }).fatal)
          throw new Error(`the access service at ${this.config.ACCESS_URL} is not usable: ${(e as Error).message}`);
        this.log.warn(`access service not ready (${(e as Error).message}); retrying`);
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
    this.revocations = await RevocationFeed.follow(this.bus);
    // The grant's quota is held across hosts by the leases below, not by this process's count.
    this.verifier = new PermissionVerifier({ host: this.host, issuerKeys, revoked: this.revocations, enforceQuota: false });
    this.receipts = await ReceiptPublisher.open({
      bus: this.bus,
      host: this.host,
      servingKey: this.servingKey,
      hostKeyId: this.servingKeyId,
      spoolDir: this.config.GATEWAY_SPOOL_DIR,
      maxBatch: this.config.GATEWAY_RECEIPT_BATCH,
      flushIntervalMs: this.config.GATEWAY_RECEIPT_FLUSH_MS,
      logger: this.log,
    });
    this.metrics.gauge('gateway_receipts_pending', 'Receipts recorded but not yet acknowledged by JetStream (spooled on disk).', [], (g) =>
      g.set(this.receipts.pending),
    );
    const reserveSeconds = this.metrics.histogram(
      'gateway_quota_reserve_seconds',
      "Time a request waited for its grant's quota (most take it from a held lease, without a round trip), by outcome (granted, refused).",
      ['outcome'],
      [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    );
    this.quota = new QuotaLeases({
      lease: (grantId, requests, tokens) => this.quotaCall('/hosts/quota-leases', { grantId, requests, tokens }),
      release: async (grantId, requests, tokens) => void (await this.quotaCall('/hosts/quota-leases/release', { grantId, requests, tokens })),
      block: this.config.GATEWAY_QUOTA_BLOCK,
      tokenBlock: this.config.GATEWAY_QUOTA_TOKEN_BLOCK,
      observe: (seconds, outcome) => reserveSeconds.observe({ outcome }, seconds),
    });
    this.metrics.gauge('gateway_quota_grants_held', 'Grants this gateway holds a quota lease of.', [], (g) => g.set(this.quota.grants));
    this.timers.push(setInterval(() => void this.quota.releaseIdle(this.config.GATEWAY_QUOTA_IDLE_SECONDS * 1000), 5_000).unref());
    await this.renewSession();
    await this.checkLicence();
    await this.pickUpHandouts();
    this.metrics.gauge('gateway_licensed', '1 while access says this host holds an active licence for the model it serves.', [], (g) =>
      g.set(this.licence.active ? 1 : 0),
    );
    this.timers.push(
      setInterval(() => {
        this.polling ??= this.checkLicence()
          .then(() => this.pickUpHandouts())
          .finally(() => (this.polling = undefined));
      }, this.config.GATEWAY_LICENCE_CHECK_SECONDS * 1000).unref(),
    );
    this.metrics.gauge('gateway_grants_cached', 'Grants whose issuer signature was checked and is cached.', [], (g) => g.set(this.verifier.cachedGrants));
    this.timers.push(
      setInterval(() => {
        this.issuerKeys().then(
          (keys) => this.verifier.setIssuerKeys(keys),
          (e: Error) => this.log.warn(`refreshing issuer keys: ${e.message}; keeping the ones loaded`),
        );
        this.verifier.sweepExpired();
      }, this.config.GATEWAY_ISSUER_REFRESH_SECONDS * 1000).unref(),
    );
    this.log.log(`host ${this.host}: serving key "${this.servingKeyId}" registered, ${issuerKeys.size} issuer key(s) loaded`);
  }

  async onApplicationShutdown() {
    for (const t of this.timers) clearInterval(t);
    // A poll in flight ends first: it must not mark this host as up again after it said it leaves.
    await this.polling;
    // No more opening blocks for this host, and those it did not pick up go back; then what it holds.
    await this.frequentCall('POST', '/hosts/quota-leases/handouts', '{"leaving":true}').catch(() => undefined);
    await this.quota?.releaseIdle(0);
    await this.receipts?.close();
    await this.revocations?.close?.();
  }

  /**
   * Asks access (GET /hosts/licences) whether this host still holds a licence for the model: a
   * slash, an unstake or an admin ending it stops serving within GATEWAY_LICENCE_CHECK_SECONDS.
   * While access cannot be reached the last answer stands.
   */
  async checkLicence(): Promise<void> {
    try {
      const path = '/hosts/licences';
      const res = await this.frequentCall('GET', path);
      if (!res.ok) throw new Error(`GET ${path} answered ${res.status}`);
      const licences = (await res.json()) as { modelId: string; active: boolean; endedAt: string | null; endReason: string | null }[];
      const mine = licences.filter((l) => l.modelId === this.config.GATEWAY_MODEL_ID);
      const was = this.licence.active;
      const ended = mine.find((l) => !l.active);
      this.licence = mine.some((l) => l.active)
        ? { active: true, reason: '' }
        : {
            active: false,
            reason: ended
              ? `this host's licence for model ${this.config.GATEWAY_MODEL_ID} ended at ${ended.endedAt} (${ended.endReason})`
              : `this host holds no licence for model ${this.config.GATEWAY_MODEL_ID}`,
          };
      if (was && !this.licence.active) this.log.warn(`${this.licence.reason}: no longer serving`);
    } catch (e) {
      this.log.warn(`checking the licence: ${(e as Error).message}; keeping the last answer (${this.licence.active ? 'licensed' : 'not licensed'})`);
    }
  }

  /** Takes the opening blocks access handed this host as grants were issued (each is given once). */
  async pickUpHandouts(): Promise<void> {
    if (!this.licence.active) return;
    try {
      const res = await this.frequentCall('POST', '/hosts/quota-leases/handouts', '{}');
      if (!res.ok) throw new Error(`POST /hosts/quota-leases/handouts answered ${res.status}`);
      for (const h of (await res.json()) as (Granted & { grantId: string })[]) this.quota.offer(h.grantId, h);
    } catch (e) {
      this.log.warn(`picking up opening quota blocks: ${(e as Error).message}; their grants lease on first use instead`);
    }
  }

  /** A call to access's quota leases; a refusal (403, 404) becomes a QuotaRefused with access's reason. */
  private async quotaCall(path: string, payload: object): Promise<Granted> {
    const res = await this.frequentCall('POST', path, JSON.stringify(payload));
    const answer = (await res.json().catch(() => ({}))) as Granted & { detail?: string; details?: { reason?: string } };
    if (res.status === 403 || res.status === 404)
      throw new QuotaRefused(
        answer.details?.reason ?? (res.status === 404 ? 'unknown_grant' : 'forbidden'),
        answer.detail ?? `access answered ${res.status}`,
        403,
      );
    if (!res.ok) throw new Error(`POST ${path} answered ${res.status}: ${answer.detail ?? ''}`);
    return answer;
  }

  /**
   * A call this gateway makes often (quota leases, licence checks), authenticated by its host session
   * token, so that neither side spends a signature on it; signed while it has none or when access
   * refused the token (its key rotated), and the token is then renewed.
   */
  private async frequentCall(method: 'GET' | 'POST', path: string, body = ''): Promise<Response> {
    const session = this.session;
    if (session && Date.now() < session.expiresAt) {
      if (Date.now() >= session.renewAt) void this.renewSession();
      const res = await this.call(method, path, body, { [HOST_SESSION_HEADER]: session.token });
      if (res.status !== 401) return res;
      if (this.session === session) this.session = undefined;
    }
    void this.renewSession();
    return this.signedCall(method, path, body);
  }

  /** A call to access signed by this host's EVM key (host-auth, audience access). */
  private async signedCall(method: 'GET' | 'POST', path: string, body = '', timeoutMs = 5_000): Promise<Response> {
    return this.call(method, path, body, { [HOST_AUTH_HEADER]: await signHostRequest(this.account, { audience: 'access', method, path, body }) }, timeoutMs);
  }

  private call(method: 'GET' | 'POST', path: string, body: string, auth: Record<string, string>, timeoutMs = 5_000): Promise<Response> {
    return fetch(`${this.config.ACCESS_URL}${path}`, {
      method,
      headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...auth },
      ...(body ? { body } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    });
  }

  /** Gets a new host session token (one at a time); renewed at half its life. Without one, calls are signed. */
  private renewSession(): Promise<void> {
    this.renewing ??= (async () => {
      try {
        const path = '/hosts/sessions';
        const res = await this.signedCall('POST', path);
        if (!res.ok) throw new Error(`POST ${path} answered ${res.status}`);
        const { token, expiresAt } = (await res.json()) as { token: string; expiresAt: number };
        const now = Date.now();
        this.session = { token, expiresAt: expiresAt * 1000, renewAt: now + (expiresAt * 1000 - now) / 2 };
      } catch (e) {
        this.log.warn(`opening a host session with access: ${(e as Error).message}; signing each call meanwhile`);
      } finally {
        this.renewing = undefined;
      }
    })();
    return this.renewing;
  }

  private async issuerKeys(): Promise<Map<string, KeyObject>> {
    const res = await fetch(`${this.config.ACCESS_URL}/issuers`, { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`GET /issuers answered ${res.status}`);
    const keys = (await res.json()) as { keyId: string; publicKey: string }[];
    return new Map(keys.map((k) => [k.keyId, publicKeyFromRaw(Buffer.from(k.publicKey, 'base64url'))]));
  }

  private async registerServingKey(): Promise<void> {
    const path = '/hosts/serving-keys';
    const body = JSON.stringify({
      keyId: this.servingKeyId,
      publicKey: rawPublicKey(this.servingKey).toString('base64url'),
      modelId: this.config.GATEWAY_MODEL_ID,
    });
    const res = await this.signedCall('POST', path, body, 10_000);
    if (res.status === 403) throw new Error(`not licensed yet: ${((await res.json().catch(() => ({}))) as { detail?: string }).detail ?? 'no active licence'}`);
    if (res.status === 409)
      throw Object.assign(new Error(`serving key "${this.servingKeyId}" is registered with another public key; configure a new key id`), { fatal: true });
    if (res.status !== 201 && res.status !== 200) throw new Error(`registering the serving key: ${res.status} ${await res.text()}`);
  }
}
