import { CanActivate, ExecutionContext, Inject, Injectable, UseGuards, applyDecorators, createParamDecorator } from '@nestjs/common';
import { ApiHeader } from '@nestjs/swagger';
import type { Request } from 'express';
import { HOST_AUTH_HEADER, HostAuthError, verifyHostRequest, type NonceStore } from '@clopen/host-auth';
import { Unauthenticated } from '../errors';
import { Public } from './roles';

/** Provide this in a service module to use HostAuthGuard: the audience is the service's name. */
export const HOST_AUTH = Symbol('clopen:host-auth');

export interface HostAuthOptions {
  audience: string;
  nonceStore: NonceStore;
  maxTtlSeconds: number;
}

type HostRequest = Request & { hostAddress?: `0x${string}`; rawBody?: Buffer };

/**
 * Host routes are authenticated by the host's own key: an EIP-191 signature over the request with
 * a single-use nonce and an expiry (@clopen/host-auth). Use with @Public() (no API key).
 */
@Injectable()
export class HostAuthGuard implements CanActivate {
  constructor(@Inject(HOST_AUTH) private readonly options: HostAuthOptions) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<HostRequest>();
    try {
      const host = await verifyHostRequest(req.header(HOST_AUTH_HEADER), {
        audience: this.options.audience,
        method: req.method,
        path: req.originalUrl,
        body: req.rawBody ?? '',
        maxTtlSeconds: this.options.maxTtlSeconds,
        nonceStore: this.options.nonceStore,
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

/**
 * A controller (or route) whose callers sign each request with their EVM key instead of an API key:
 * HostAuthGuard, no API key, and the header documented in the OpenAPI document. `who` names the
 * signer in the document ("host", "prover"); the audience is the service's own name.
 */
export function HostSigned(who: string, audience: string) {
  return applyDecorators(
    ApiHeader({ name: HOST_AUTH_HEADER, required: true, description: `EIP-191 signature of the request by the ${who} address (libs/host-auth), audience "${audience}"` }),
    Public(),
    UseGuards(HostAuthGuard),
  );
}
