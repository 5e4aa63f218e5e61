import { Controller, Get, Inject } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { Public } from '../auth/roles';

/** A dependency the service needs to do its work; /ready fails while any check fails. */
export interface ReadinessCheck {
  name: string;
  check(): Promise<unknown>;
}
export const READINESS_CHECKS = Symbol('clopen:readiness-checks');

const withTimeout = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms).unref())]);

@ApiTags('operations')
@Public()
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicator: HealthIndicatorService,
    @Inject(READINESS_CHECKS) private readonly checks: ReadinessCheck[],
  ) {}

  /** Liveness: the process serves HTTP. Kubernetes restarts the pod when this fails. */
  @Get('health')
  @HealthCheck()
  live() {
    return this.health.check([async () => this.indicator.check('process').up({ uptimeSeconds: Math.round(process.uptime()) })]);
  }

  /** Readiness: every dependency answers. Kubernetes stops routing traffic while this fails. */
  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check(
      this.checks.map((c) => async () => {
        const session = this.indicator.check(c.name);
        try {
          await withTimeout(c.check(), 2000, c.name);
          return session.up();
        } catch (e) {
          return session.down({ message: e instanceof Error ? e.message : String(e) });
        }
      }),
    );
  }
}
