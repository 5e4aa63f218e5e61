import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { randomInt } from 'node:crypto';
import { DataSource } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import { Outbox } from '@clopen/bus';
import { CONFIG, Forbidden, InvalidArgument, NotFound, hasRole, type Principal } from '@clopen/service-kit';
import { traceHosts } from '@clopen/tracing';
import type { DistributionConfig } from '../distribution.settings';
import { ChallengeNotFound, ChallengeTraced, PoolExhausted } from '../distribution.errors';
import { AssignmentsService } from '../pools/assignments.service';
import { FingerprintPool } from '../pools/fingerprint-pool.entity';
import { PoolsService } from '../pools/pools.service';
import { Challenge, Trace, type HostScoreRecord } from './trace.entity';
import type { ChallengeRequest, IssuedChallenge, TraceRequest } from './tracing.contracts';

/**
 * Tracing a suspect model to the hosts behind it. A prover takes a challenge (pool keys never
 * handed out before: a suspect that has seen a key could learn to dodge it), asks the suspect, and
 * submits its outputs; distribution, which alone holds the responses, decides which keys were
 * answered and scores every host that ever received a copy (@clopen/tracing traceHosts).
 */
/** A trace as `distribution.trace.completed` and the `distribution.challenge.trace` reply carry it. */
export function traceCompleted(trace: Trace) {
  return {
    traceId: trace.id,
    versionId: trace.versionId,
    keysAsked: trace.keysAsked,
    keysAnswered: trace.keysAnswered,
    outcome: trace.outcome,
    falseAccusation: trace.falseAccusation,
    scores: trace.scores.map((s) => ({
      hostAddress: s.hostAddress,
      licenceId: s.licenceId,
      answeredHeld: s.answeredHeld,
      score: s.score,
      pValue: s.pValue,
      accused: s.accused,
    })),
    accused: trace.accused,
  };
}

@Injectable()
export class TracingService {
  constructor(
    private readonly db: DataSource,
    private readonly outbox: Outbox,
    private readonly pools: PoolsService,
    private readonly assignments: AssignmentsService,
    @Inject(CONFIG) private readonly config: DistributionConfig,
  ) {}

  async challenge(principal: Principal, versionId: string, input: ChallengeRequest): Promise<IssuedChallenge> {
    return this.db.transaction(async (m) => {
      const pool = await this.pools.readyPool(versionId, m);
      // One challenge at a time per pool, so no key is handed out twice.
      await m.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`challenges:${pool.id}`]);
      const wanted = input.keys ?? pool.keysPerTrace;
      const issued = new Set<number>();
      for (const c of await m.getRepository(Challenge).find({ where: { poolId: pool.id }, select: { indices: true } }))
        for (const i of c.indices) issued.add(i);
      const fresh: number[] = [];
      for (let i = 0; i < pool.size; i += 1) if (!issued.has(i)) fresh.push(i);
      if (fresh.length < wanted) throw new PoolExhausted(versionId, fresh.length, wanted);
      // A uniform sample, independent of every assignment (the trace's false-accusation bound needs that).
      for (let i = 0; i < wanted; i += 1) {
        const j = i + randomInt(fresh.length - i);
        [fresh[i], fresh[j]] = [fresh[j], fresh[i]];
      }
      const indices = fresh.slice(0, wanted).sort((a, b) => a - b);
      const challenge = await m
        .getRepository(Challenge)
        .save(m.getRepository(Challenge).create({ id: uuidv7(), poolId: pool.id, versionId, proverId: principal.id, indices, traceId: null }));
      const entries = this.pools.entries(pool);
      return { challengeId: challenge.id, versionId, modelId: pool.modelId, keys: indices.map((index) => ({ index, key: entries[index].key })) };
    });
  }

  async trace(principal: Principal, challengeId: string, input: TraceRequest): Promise<Trace> {
    return this.db.transaction(async (m) => {
      const challenge = await m.getRepository(Challenge).findOne({ where: { id: challengeId }, lock: { mode: 'pessimistic_write' } });
      if (!challenge) throw new ChallengeNotFound(challengeId);
      if (!hasRole(principal, 'admin') && challenge.proverId !== principal.id) throw new Forbidden(`challenge ${challengeId} was issued to another prover`);
      const outputs = new Map<number, string>();
      for (const r of input.responses) {
        if (!challenge.indices.includes(r.index)) throw new InvalidArgument(`key ${r.index} is not part of challenge ${challengeId}`);
        if (outputs.has(r.index)) throw new InvalidArgument(`key ${r.index} is answered twice`);
        outputs.set(r.index, r.output);
      }
      const responsesSha256 = createHash('sha256')
        .update(JSON.stringify([...outputs].sort(([a], [b]) => a - b)))
        .digest('hex');
      if (challenge.traceId) {
        // The same outputs again (the caller lost the answer): the trace made then, never a second one.
        if (challenge.responsesSha256 === responsesSha256) return m.getRepository(Trace).findOneByOrFail({ id: challenge.traceId });
        throw new ChallengeTraced(challengeId, challenge.traceId);
      }
      const pool = await m.getRepository(FingerprintPool).findOneByOrFail({ id: challenge.poolId });
      const entries = this.pools.entries(pool);
      const asked = challenge.indices;
      // Exact match on the secret response at the start of the output, as the engine's verifier decides.
      const answered = asked.map((i) => {
        const out = outputs.get(i);
        return out !== undefined && entries[i].response.length > 0 && out.startsWith(entries[i].response);
      });
      const hosts = await this.assignments.hostsOf(m, pool.id);
      const falseAccusation = this.config.TRACE_FALSE_ACCUSATION;
      const result = traceHosts({
        asked,
        answered,
        assignments: new Map([...hosts].map(([h, a]) => [h, a.indices])),
        p: pool.inclusionP,
        nullRate: this.config.TRACE_NULL_RATE,
        falseAccusation,
        hosts: Math.max(pool.hosts, hosts.size, 1),
      });
      const scores: HostScoreRecord[] = result.hosts.map((h) => ({
        hostAddress: h.hostId,
        licenceId: hosts.get(h.hostId)!.licenceId,
        answeredHeld: h.answeredHeld,
        score: h.score,
        pValue: h.pValue,
        accused: h.accused,
      }));
      const trace = await m.getRepository(Trace).save(
        m.getRepository(Trace).create({
          id: uuidv7(),
          challengeId,
          versionId: challenge.versionId,
          requestedBy: principal.id,
          keysAsked: asked.length,
          keysAnswered: answered.filter(Boolean).length,
          outcome: result.outcome,
          falseAccusation,
          scores,
          accused: scores.filter((s) => s.accused).map((s) => s.hostAddress),
        }),
      );
      challenge.traceId = trace.id;
      challenge.responsesSha256 = responsesSha256;
      await m.getRepository(Challenge).save(challenge);
      await this.outbox.enqueue(m, 'distribution.trace.completed', traceCompleted(trace));
      return trace;
    });
  }

  async get(id: string): Promise<Trace> {
    const t = await this.db.getRepository(Trace).findOneBy({ id });
    if (!t) throw new NotFound(`trace ${id} does not exist`);
    return t;
  }
}
