import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Forbidden, Unauthenticated } from '../errors';
import { ApiKeysService } from './api-keys.service';
import { IS_PUBLIC, REQUIRED_ROLES, hasRole, type Role } from './roles';

/** Guards every REST route that is not @Public(): a valid API key, and one of @Roles() if given. */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly keys: ApiKeysService,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (ctx.getType() !== 'http') return true;
    const targets = [ctx.getHandler(), ctx.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets)) return true;
    const req = ctx.switchToHttp().getRequest();
    const key = presentedKey(req.headers);
    if (!key) throw new Unauthenticated('missing API key: send it as "Authorization: Bearer <key>" or "X-API-Key: <key>"');
    const principal = await this.keys.authenticate(key);
    if (!principal) throw new Unauthenticated('unknown or revoked API key');
    req.principal = principal;
    const roles = this.reflector.getAllAndOverride<Role[] | undefined>(REQUIRED_ROLES, targets);
    if (roles?.length && !hasRole(principal, ...roles)) {
      throw new Forbidden(`this route needs the role ${roles.join(' or ')}; your key has ${principal.roles.join(', ')}`);
    }
    return true;
  }
}

function presentedKey(headers: Record<string, string | string[] | undefined>): string | undefined {
  const auth = headers['authorization'];
  if (typeof auth === 'string' && /^Bearer\s+/i.test(auth)) return auth.replace(/^Bearer\s+/i, '').trim();
  const x = headers['x-api-key'];
  return typeof x === 'string' && x ? x.trim() : undefined;
}
