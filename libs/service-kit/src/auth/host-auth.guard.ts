import { CanActivate, ExecutionContext, Inject, Injectable, SetMetadata, UseGuards, applyDecorators, createParamDecorator } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ApiHeader } from '@nestjs/swagger';
import type { Request } from 'express';
import { HOST_AUTH_HEADER, HOST_SESSION_HEADER, HostAuthError, verifyHostRequest, type HostSessions, type NonceStore } from '@clopen/host-auth';
import { Unauthenticated } from '../errors';
import { Public } from './roles';

/** Provide this in a service module to use HostAuthGuard: the audience is the service's name. */
export const HOST_AUTH = Symbol('clopen:host-auth');

export interface HostAuthOptions {
  audience: string;
  nonceStore: NonceStore;
  maxTtlSeconds: number;
  /** Where routes marked `HostSigned(…, { sessions: true })` also take a host session token. */
  sessions?: HostSessions;
}

const TAKES_SESSIONS = 'clopen:host-sessions';

type HostRequest = Request & { hostAddress?: `0x${string}`; rawBody?: Buffer };

/**
 * Host routes are authenticated by the host's own key: an EIP-191 signature over the request with
 * a single-use nonce and an expiry (@clopen/host-auth). Use with @Public() (no API key).
 */
@Injectable()
export class HostAuthGuard implements CanActivate {
  constructor(
    @Inject(HOST_AUTH) private readonly options: HostAuthOptions,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<HostRequest>();
    try {
      const session = req.header(HOST_SESSION_HEADER);
      if (session !== undefined && req.header(HOST_AUTH_HEADER) === undefined) {
        const takes = this.reflector.getAllAndOverride<boolean>(TAKES_SESSIONS, [context.getHandler(), context.getClass()]);
        if (!takes || !this.options.sessions)
          throw new HostAuthError('missing', `${req.method} ${req.path} takes no ${HOST_SESSION_HEADER}: sign the request (${HOST_AUTH_HEADER})`);
        req.hostAddress = this.options.sessions.verify(session).address;
        return true;
      }
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
export const CurrentHost = createParamDecorator(
  (_: unknown, ctx: ExecutionContext): `0x${string}` => ctx.switchToHttp().getRequest<HostRequest>().hostAddress!,
);

/**
 * A controller (or route) whose callers sign each request with their EVM key instead of an API key:
 * HostAuthGuard, no API key, and the header documented in the OpenAPI document. `who` names the
 * signer in the document ("host", "prover"); the audience is the service's own name. With
 * `sessions`, a host session token (HostSessions, from POST /hosts/sessions) does instead of a
 * signature: for a host's frequent calls, never for ones that change its keys.
 */
export function HostSigned(who: string, audience: string, options: { sessions?: boolean } = {}) {
  return applyDecorators(
    ApiHeader({
      name: HOST_AUTH_HEADER,
      required: !options.sessions,
      description: `EIP-191 signature of the request by the ${who} address (libs/host-auth), audience "${audience}"${options.sessions ? `; or ${HOST_SESSION_HEADER} instead` : ''}`,
    }),
    ...(options.sessions
      ? [
          ApiHeader({
            name: HOST_SESSION_HEADER,
            required: false,
            description: `A host session token from POST /hosts/sessions (audience "${audience}"), instead of a signature`,
          }),
          SetMetadata(TAKES_SESSIONS, true),
        ]
      : []),
    Public(),
    UseGuards(HostAuthGuard),
  );
}
