import { SetMetadata, createParamDecorator, type ExecutionContext } from '@nestjs/common';

/** admin: operators; owner: publishes models; host: serves them; prover: catches leaks; user: buys access (grants). */
export const ROLES = ['admin', 'owner', 'host', 'prover', 'user'] as const;
export type Role = (typeof ROLES)[number];

/** Who called: the principal an API key belongs to. */
export interface Principal {
  id: string;
  roles: Role[];
  keyId: string;
}

export const IS_PUBLIC = 'clopen:public';
export const REQUIRED_ROLES = 'clopen:roles';

/** The route needs no API key (health, metrics, docs). */
export const Public = () => SetMetadata(IS_PUBLIC, true);

/** The caller needs one of these roles; admin always passes. */
export const Roles = (...roles: Role[]) => SetMetadata(REQUIRED_ROLES, roles);

export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => ctx.switchToHttp().getRequest().principal);

export function hasRole(principal: Principal, ...roles: Role[]): boolean {
  return principal.roles.includes('admin') || roles.some((r) => principal.roles.includes(r));
}
