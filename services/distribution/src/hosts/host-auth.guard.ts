import { CanActivate, ExecutionContext, Inject, Injectable, createParamDecorator } from '@nestjs/common';
import type { Request } from 'express';
import Redis from 'ioredis';
import { HOST_AUTH_HEADER, HostAuthError, RedisNonceStore, verifyHostRequest } from '@clopen/host-auth';
import { CONFIG, Unauthenticated } from '@clopen/service-kit';
import type { DistributionConfig } from '../distribution.settings';

type HostRequest = Request & { hostAddress?: `0x${string}`; rawBody?: Buffer };

/**
 * Host routes are authenticated by the host's own key: an EIP-191 signature over the request with
 * a single-use nonce and an expiry (@clopen/host-auth). No API key, no shared secret.
 */
@Injectable()
export class HostAuthGuard implements CanActivate {
  private readonly nonces: RedisNonceStore;

  constructor(redis: Redis, @Inject(CONFIG) private readonly config: DistributionConfig) {
    this.nonces = new RedisNonceStore(redis, `${config.BULLMQ_PREFIX}:host-nonce:`);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<HostRequest>();
    try {
      const host = await verifyHostRequest(req.header(HOST_AUTH_HEADER), {
        audience: 'distribution',
        method: req.method,
        path: req.originalUrl,
        body: req.rawBody ?? '',
        maxTtlSeconds: this.config.HOST_AUTH_MAX_TTL_SECONDS,
        nonceStore: this.nonces,
      });
      req.hostAddress = host.address;
      return true;
    } catch (e) {
      if (e instanceof HostAuthError) throw new Unauthenticated(e.message, { reason: e.reason });
      throw e;
    }
  }
}

/** The EIP-55 address of the host that signed the request. */
export const CurrentHost = createParamDecorator((_: unknown, ctx: ExecutionContext): `0x${string}` => ctx.switchToHttp().getRequest<HostRequest>().hostAddress!);
