import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { create, distributionV1 } from '@clopen/proto';
import { parseInput, type Principal } from '@clopen/service-kit';
import { ChallengeRequestSchema, TraceRequestSchema } from './tracing.contracts';
import { traceCompleted, TracingService } from './tracing.service';

/** The prover's principal as the access service vouches for it: access registers and authenticates provers. */
const prover = (id: string): Principal => ({ id, roles: ['prover'], keyId: 'bus' });

/** Challenges and traces asked over NATS by the access service on behalf of its registered provers; they meet the same contracts as the REST routes. */
@Controller()
export class TracingHandlers {
  constructor(private readonly tracing: TracingService) {}

  @MessagePattern('distribution.challenge.open')
  async open(@Payload() req: distributionV1.ChallengeOpenRequest): Promise<distributionV1.ChallengeOpenResponse> {
    const c = await this.tracing.challenge(prover(req.prover), req.versionId, parseInput(ChallengeRequestSchema, req.keys ? { keys: req.keys } : {}));
    return create(distributionV1.ChallengeOpenResponseSchema, { challengeId: c.challengeId, versionId: c.versionId, modelId: c.modelId, keys: c.keys });
  }

  @MessagePattern('distribution.challenge.trace')
  async trace(@Payload() req: distributionV1.ChallengeTraceRequest): Promise<distributionV1.ChallengeTraceResponse> {
    const input = parseInput(TraceRequestSchema, { responses: req.responses.map((r) => ({ index: r.index, output: r.output })) });
    const t = await this.tracing.trace(prover(req.prover), req.challengeId, input);
    return create(distributionV1.ChallengeTraceResponseSchema, { trace: traceCompleted(t) });
  }
}
