import { Inject, Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { DataSource, MoreThan } from 'typeorm';
import { getAddress, isAddress } from 'viem';
import { v7 as uuidv7 } from 'uuid';
import { Bus, BusRequestError, Outbox } from '@clopen/bus';
import { completionText, receiptSigningBytes, requestDigestOfHash, verifyEd25519 } from '@clopen/host-sdk';
import { accessV1, fromBinary } from '@clopen/proto';
import { CONFIG, Conflict, Forbidden, InvalidArgument, NotFound, Unavailable, hasRole, type Principal } from '@clopen/service-kit';
import type { AccessConfig } from '../access.settings';
import { Grant } from '../grants/grant.entity';
import { ServingKey } from '../hosts/serving-key.entity';
import { challengeQueries, signedPart, streamReceipt } from './challenge-queries';
import { Prover } from './prover.entity';
import type { ChallengeRequest, Proof, ProofAnswer, ProofVerdict, RegisterProver } from './provers.contracts';
import { ProverChallenge } from './prover-challenge.entity';
import { Violation, type AccusedHostRecord, type ViolationKind } from './violation.entity';

/** A proof whose signatures or bytes do not hold: refused, nothing recorded. */
export class TamperedProof extends InvalidArgument {}

/**
 * Provers catch hosts that serve without permission and copies served where they are not licensed.
 * A registered prover asks for a challenge for (model version, endpoint): pool keys from
 * distribution mixed with decoys of the same shape. It sends every query to the endpoint without a
 * permission string and submits what came back. Answers a host signed (its receipt) prove that
 * this host served requests that carried no valid permission; the outputs for the keys, scored by
 * distribution's tracing, prove whose copy answered. Signatures and hashes are checked, so a
 * tampered answer or receipt makes the whole proof fail.
 */
@Injectable()
export class ProversService {
  constructor(
    private readonly db: DataSource,
    private readonly bus: Bus,
    private readonly outbox: Outbox,
    @Inject(CONFIG) private readonly config: AccessConfig,
  ) {}

  async register(input: RegisterProver): Promise<Prover> {
    const repo = this.db.getRepository(Prover);
    const address = getAddress(input.address);
    const existing = await repo.findOneBy({ address });
    if (existing && !existing.revokedAt) throw new Conflict(`prover ${address} is registered already`);
    return repo.save(repo.create({ address, name: input.name, revokedAt: null }));
  }

  async revoke(address: string): Promise<Prover> {
    const repo = this.db.getRepository(Prover);
    const prover = await repo.findOneBy({ address: isAddress(address) ? getAddress(address) : address });
    if (!prover) throw new NotFound(`prover ${address} is not registered`);
    prover.revokedAt ??= new Date();
    return repo.save(prover);
  }

  list(): Promise<Prover[]> {
    return this.db.getRepository(Prover).find({ order: { registeredAt: 'ASC' } });
  }

  async challenge(address: string, input: ChallengeRequest) {
    await this.registered(address);
    const since = new Date(Date.now() - 24 * 3600_000);
    const recent = await this.db.getRepository(ProverChallenge).countBy({ prover: address, createdAt: MoreThan(since) });
    if (recent >= this.config.ACCESS_PROVER_CHALLENGES_PER_DAY) {
      throw new Forbidden(
        `prover ${address} took ${recent} challenges in the last 24 h, the most allowed (ACCESS_PROVER_CHALLENGES_PER_DAY); each spends fingerprint keys`,
      );
    }
    const opened = await this.ask(() =>
      this.bus.request('distribution.challenge.open', { versionId: input.versionId, prover: address, keys: input.keys ?? 0 }, { timeoutMs: 30_000 }),
    );
    const queries = challengeQueries(opened.keys, this.config.ACCESS_PROVER_DECOYS_PER_KEY, this.config.ACCESS_PROVER_MAX_TOKENS);
    const repo = this.db.getRepository(ProverChallenge);
    await repo.insert(
      repo.create({
        id: opened.challengeId,
        prover: address,
        versionId: input.versionId,
        modelId: opened.modelId || null,
        endpoint: input.endpoint,
        queries,
        outcome: null,
        violationId: null,
        proofSha256: null,
        verdict: null,
      }),
    );
    return {
      challengeId: opened.challengeId,
      versionId: input.versionId,
      endpoint: input.endpoint,
      // What to send, byte for byte, as POST <endpoint>/v1/completions with no permission string.
      queries: queries.map((q) => ({ id: q.id, body: q.body })),
    };
  }

  /**
   * Checks a proof and keeps its verdict. The slow part (receipts, distribution's trace) runs with no
   * lock held; the verdict is committed under the challenge's row lock. Tracing is idempotent at
   * distribution, so the same proof submitted again after any failure (the answer lost, access
   * killed between the trace and the commit) gets the same verdict and never a second violation;
   * another proof of a proven challenge gets 409.
   */
  async prove(address: string, challengeId: string, input: Proof): Promise<ProofVerdict> {
    // In query order, so the same answers sent in another order are the same proof.
    const proofSha256 = createHash('sha256')
      .update(JSON.stringify([...input.answers].sort((a, b) => (a.queryId < b.queryId ? -1 : a.queryId > b.queryId ? 1 : 0))))
      .digest('hex');
    const challenge = await this.db.getRepository(ProverChallenge).findOneBy({ id: challengeId });
    if (!challenge) throw new NotFound(`challenge ${challengeId} does not exist`);
    if (challenge.prover !== address) throw new Forbidden(`challenge ${challengeId} was issued to another prover`);
    if (challenge.outcome) return this.provenAlready(challenge, proofSha256);
    const queries = new Map(challenge.queries.map((q) => [q.id, q]));
    const seen = new Set<string>();
    for (const a of input.answers) {
      if (!queries.has(a.queryId)) throw new InvalidArgument(`query ${a.queryId} is not part of challenge ${challengeId}`);
      if (seen.has(a.queryId)) throw new InvalidArgument(`query ${a.queryId} is answered twice`);
      seen.add(a.queryId);
    }

    // 1. Every receipt must be a host's genuine signature over this query and this answer.
    const unpermitted = new Map<string, number>();
    const signers = new Set<string>();
    for (const a of input.answers) {
      const encoded = a.receipt ?? streamReceipt(a.body);
      if (!encoded) continue;
      const query = queries.get(a.queryId)!;
      const { body: rb, host } = await this.checkReceipt(this.db.manager, encoded, query.body, a);
      signers.add(normal(host));
      if (!(await this.permitted(this.db.manager, rb))) unpermitted.set(normal(host), (unpermitted.get(normal(host)) ?? 0) + 1);
    }

    // 2. Whose copy answered: the keys' outputs, scored by distribution's tracing (the same trace for the same outputs).
    const outputs = input.answers
      .map((a) => ({ a, q: queries.get(a.queryId)! }))
      .filter(({ a, q }) => q.keyIndex !== null && a.status === 200)
      .map(({ a, q }) => ({ index: q.keyIndex!, output: completionText(a.body) }))
      .filter((o): o is { index: number; output: string } => o.output !== null);
    const trace = outputs.length
      ? (await this.ask(() => this.bus.request('distribution.challenge.trace', { challengeId, prover: address, responses: outputs }, { timeoutMs: 30_000 })))
          .trace
      : undefined;

    // 3. The verdict.
    const accused: AccusedHostRecord[] = [];
    const pValueOf = (h: string) => trace?.scores.find((s) => s.hostAddress.toLowerCase() === h.toLowerCase())?.pValue ?? 0;
    for (const [host] of unpermitted) accused.push({ hostAddress: host, role: 'served_without_permission', pValue: 0 });
    const licensees = (trace?.accused ?? []).map(normal);
    for (const l of licensees) {
      if (unpermitted.has(l)) accused.find((a) => a.hostAddress === l)!.pValue = pValueOf(l);
      else accused.push({ hostAddress: l, role: 'copy_licensee', pValue: pValueOf(l) });
    }
    // A host that signed answers from a copy licensed to someone else serves a copy that is not its own.
    const strangers = licensees.length ? [...signers].filter((s) => !licensees.includes(s)) : [];
    for (const s of strangers) if (!unpermitted.has(s)) accused.push({ hostAddress: s, role: 'serving_host', pValue: 0 });
    const kind: ViolationKind | null =
      licensees.some((l) => !unpermitted.has(l)) || strangers.length ? 'unlicensed_copy' : unpermitted.size ? 'served_without_permission' : null;

    const keysAsked = challenge.queries.filter((q) => q.keyIndex !== null).length;
    const verdict = {
      keysAsked,
      keysAnswered: trace?.keysAnswered ?? 0,
      unpermittedAnswers: [...unpermitted.values()].reduce((a, b) => a + b, 0),
      traceId: trace?.traceId ?? null,
      falseAccusation: trace?.falseAccusation ?? 0,
    };
    // What the prover is answered, kept as JSON for the same proof submitted again.
    const asJson = (result: ProofVerdict): ProofVerdict => JSON.parse(JSON.stringify(result));

    return this.db.transaction(async (m) => {
      const locked = await m.getRepository(ProverChallenge).findOne({ where: { id: challengeId }, lock: { mode: 'pessimistic_write' } });
      // Proven meanwhile (the same proof twice at once): its verdict stands.
      if (!locked || locked.outcome) return this.provenAlready(locked ?? challenge, proofSha256);
      if (!kind) {
        const result = asJson({ challengeId, outcome: 'no_violation', ...verdict, trace: trace ?? null });
        await m.getRepository(ProverChallenge).update({ id: challengeId }, { outcome: 'no_violation', proofSha256, verdict: result });
        return result;
      }
      const evidence = {
        challengeId,
        versionId: challenge.versionId,
        endpoint: challenge.endpoint,
        queries: challenge.queries.map((q) => ({ id: q.id, body: q.body })),
        answers: input.answers,
      };
      const evidenceSha256 = createHash('sha256').update(JSON.stringify(evidence)).digest('hex');
      const violation = m.getRepository(Violation).create({
        id: uuidv7(),
        challengeId,
        versionId: challenge.versionId,
        endpoint: challenge.endpoint,
        prover: address,
        kind,
        accused,
        evidenceSha256,
        evidence,
        queries: challenge.queries.length,
        ...verdict,
      });
      await m.getRepository(Violation).save(violation);
      const result = asJson({
        challengeId,
        outcome: 'violation',
        violation: { ...violationView(violation), createdAt: violation.createdAt.toISOString() },
        trace: trace ?? null,
      });
      await m.getRepository(ProverChallenge).update({ id: challengeId }, { outcome: 'violation', violationId: violation.id, proofSha256, verdict: result });
      await this.outbox.enqueue(m, 'access.violation.proven', {
        violationId: violation.id,
        challengeId,
        // A challenge opened before access kept the model (or answered by an older distribution) names
        // its version here, which incentives links as it links a model.
        modelId: challenge.modelId || challenge.versionId,
        versionId: challenge.versionId,
        endpoint: challenge.endpoint,
        prover: address,
        kind,
        accused,
        evidenceSha256,
        queries: violation.queries,
        keysAsked: verdict.keysAsked,
        keysAnswered: verdict.keysAnswered,
        unpermittedAnswers: verdict.unpermittedAnswers,
        traceId: verdict.traceId ?? '',
        falseAccusation: verdict.falseAccusation,
      });
      return result;
    });
  }

  /** A proven challenge: the same proof gets the verdict it got; another proof is refused. */
  private provenAlready(challenge: ProverChallenge, proofSha256: string): ProofVerdict {
    if (challenge.proofSha256 === proofSha256 && challenge.verdict) return challenge.verdict;
    throw new Conflict(
      `challenge ${challenge.id} was proven already (${challenge.outcome}${challenge.violationId ? `, violation ${challenge.violationId}` : ''}) with another proof`,
    );
  }

  async violation(principal: Principal | undefined, prover: string | undefined, id: string) {
    const v = await this.db.getRepository(Violation).findOneBy({ id });
    if (!v || (!(principal && hasRole(principal, 'admin')) && v.prover !== prover)) throw new NotFound(`violation ${id} does not exist`);
    return { ...violationView(v), evidence: v.evidence };
  }

  async violations() {
    return (await this.db.getRepository(Violation).find({ order: { createdAt: 'DESC' }, take: 500 })).map(violationView);
  }

  private async registered(address: string): Promise<Prover> {
    const prover = await this.db.getRepository(Prover).findOneBy({ address });
    if (!prover || prover.revokedAt) throw new Forbidden(`${address} is not a registered prover; an admin registers provers at POST /provers`);
    return prover;
  }

  /** Checks a receipt against the registered serving key of the host it names, this query and this answer. */
  private async checkReceipt(m: DataSource['manager'], encoded: string, queryBody: string, answer: ProofAnswer) {
    let receipt: accessV1.UsageReceipt;
    let body: accessV1.ReceiptBody;
    try {
      receipt = fromBinary(accessV1.UsageReceiptSchema, Buffer.from(encoded, 'base64url'));
      body = fromBinary(accessV1.ReceiptBodySchema, receipt.body);
    } catch (e) {
      throw new TamperedProof(`the receipt of query ${answer.queryId} does not decode: ${(e as Error).message}`);
    }
    const key = await m.getRepository(ServingKey).findOneBy({ hostAddress: body.hostAddress, keyId: receipt.hostKeyId });
    if (!key)
      throw new TamperedProof(
        `the receipt of query ${answer.queryId} names serving key "${receipt.hostKeyId}" of ${body.hostAddress}, which is not registered`,
      );
    if (!verifyEd25519(receipt.hostSignature, receiptSigningBytes(receipt.body), Buffer.from(key.publicKey, 'base64url'))) {
      throw new TamperedProof(`the receipt of query ${answer.queryId} is not signed by serving key "${receipt.hostKeyId}" of ${body.hostAddress}`);
    }
    const sha = (s: string) => createHash('sha256').update(s).digest();
    if (!sha(queryBody).equals(Buffer.from(body.requestSha256)))
      throw new TamperedProof(`the receipt of query ${answer.queryId} is for another request than the query`);
    if (!sha(signedPart(answer.body)).equals(Buffer.from(body.responseSha256)))
      throw new TamperedProof(`the answer to query ${answer.queryId} is not the one the host signed`);
    return { receipt, body, host: body.hostAddress };
  }

  /** Whether a signed answer was covered by a valid permission string (a grant, the user's signature, in time, not revoked). */
  private async permitted(m: DataSource['manager'], body: accessV1.ReceiptBody): Promise<boolean> {
    if (!/^[0-9a-f-]{36}$/i.test(body.grantId)) return false;
    const grant = await m.getRepository(Grant).findOneBy({ id: body.grantId });
    if (!grant || grant.modelId !== body.modelId) return false;
    if (grant.hosts.length && !grant.hosts.some((h) => h.toLowerCase() === body.hostAddress.toLowerCase())) return false;
    const servedAt = Number(body.servedAt);
    if (servedAt < grant.notBefore.getTime() || servedAt >= grant.expiresAt.getTime() || (grant.revokedAt && servedAt > grant.revokedAt.getTime()))
      return false;
    const digest = requestDigestOfHash(grant.id, body.counter, body.hostAddress, body.modelId, body.requestSha256);
    return verifyEd25519(body.userSignature, digest, Buffer.from(grant.userPublicKey, 'base64url'));
  }

  /** A distribution request; its errors keep their meaning for the prover. */
  private async ask<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (e) {
      if (!(e instanceof BusRequestError)) throw e;
      const message = `distribution: ${e.message}`;
      if (e.code === 'not_found') throw new NotFound(message);
      if (e.code === 'invalid_argument') throw new InvalidArgument(message);
      if (e.code === 'conflict') throw new Conflict(message);
      if (e.code === 'forbidden') throw new Forbidden(message);
      throw new Unavailable(message);
    }
  }
}

const normal = (address: string) => (isAddress(address) ? getAddress(address) : address);

function violationView(v: Violation) {
  const { evidence: _evidence, ...rest } = v;
  return rest;
}
