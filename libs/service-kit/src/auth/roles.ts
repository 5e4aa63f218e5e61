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

/** A principal's id (an API key's holder, a model's owner): a name or an EVM address, 1-128 characters. */
export const PRINCIPAL_ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
export const PRINCIPAL_ID_RULE = 'a principal id is 1-128 characters: letters, digits, ".", "_", ":", "@" or "-", starting with a letter or digit';
