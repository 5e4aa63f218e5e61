export { createService, runService, migrateService, previewOpenApiDocument, CONFIG } from './bootstrap';
export { openApiDocument } from './openapi';
export type { ServiceDefinition, ServiceContext, RunningService } from './bootstrap';
export {
  DomainError,
  NotFound,
  InvalidArgument,
  Conflict,
  Forbidden,
  Unauthenticated,
  PayloadTooLarge,
  Unavailable,
  ErrorFilter,
  toHttpError,
  problem,
  PROBLEM_TYPE_BASE,
  PROBLEM_CONTENT_TYPE,
  type ErrorShape,
  type Problem,
} from './errors';
export { Public, Roles, CurrentPrincipal, hasRole, ROLES, PRINCIPAL_ID, PRINCIPAL_ID_RULE } from './auth/roles';
export type { Principal, Role } from './auth/roles';
export { ApiKey } from './auth/api-key.entity';
export { ApiKeysService } from './auth/api-keys.service';
export { CreateApiKeys1764000000000 } from './auth/api-keys.migration';
export { Metrics } from './metrics/metrics';
export { ObjectStore } from './s3';
export type { ReadinessCheck } from './health/health.controller';
export { parseInput } from './validation';
export { HostAuthGuard, HostSigned, CurrentHost, HOST_AUTH, type HostAuthOptions } from './auth/host-auth.guard';
export { ContractPipe, ZodResponse, isoDateTime } from './contracts';
export { createZodDto } from 'nestjs-zod';
export { CorrelationMiddleware, CORRELATION_HEADER } from './correlation';
