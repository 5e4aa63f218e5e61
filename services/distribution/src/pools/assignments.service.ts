import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { Outbox } from '@clopen/bus';
import { assignSubset, assignmentCommitment, assignmentLeaf } from '@clopen/tracing';
import { Assignment, type Licence } from '../licences/licence.entity';
import type { FingerprintPool } from './fingerprint-pool.entity';
import { PoolsService } from './pools.service';

/**
 * Which fingerprints go into which host's copy: each pool entry independently with probability p,
 * drawn from the pool's sealed seed and the host's address (see @clopen/tracing planAssignment for
 * why this traces AND-coalitions of up to K). A host licensed again gets the same subset, so a
 * second copy teaches it nothing new.
 */
@Injectable()
export class AssignmentsService {
  constructor(
    private readonly pools: PoolsService,
    private readonly outbox: Outbox,
  ) {}

  /** Fixes a licence's subset and publishes the new commitment over every host of the pool. */
  async assign(m: EntityManager, licence: Licence, pool: FingerprintPool): Promise<Assignment> {
    const repo = m.getRepository(Assignment);
    const existing = await repo.findOneBy({ licenceId: licence.id });
    if (existing) return existing;
    // Serialises commitments of one pool, so each event's root covers every earlier assignment.
    await m.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`assignments:${pool.id}`]);
    const indices = Array.from(assignSubset(this.pools.seed(pool), licence.hostAddress, pool.size, pool.inclusionP));
    const assignment = await repo.save(
      repo.create({
        licenceId: licence.id,
        poolId: pool.id,
        hostAddress: licence.hostAddress,
        indices,
        leaf: `0x${assignmentLeaf(licence.hostAddress, indices).toString('hex')}`,
      }),
    );
    const byHost = new Map<string, number[]>();
    for (const a of await repo.find({ where: { poolId: pool.id }, order: { createdAt: 'ASC' } })) byHost.set(a.hostAddress, a.indices);
    const commitment = assignmentCommitment(byHost);
    await this.outbox.enqueue(m, 'distribution.assignment.committed', {
      poolId: pool.id,
      versionId: pool.versionId,
      licenceId: licence.id,
      hostAddress: licence.hostAddress,
      leaf: assignment.leaf,
      assignmentRoot: commitment.root,
      hostsCommitted: byHost.size,
    });
    return assignment;
  }

  /** Every host that ever received a copy from this pool (ended licences too: their copies exist). */
  async hostsOf(m: EntityManager, poolId: string): Promise<Map<string, { licenceId: string; indices: number[] }>> {
    const hosts = new Map<string, { licenceId: string; indices: number[] }>();
    for (const a of await m.getRepository(Assignment).find({ where: { poolId }, order: { createdAt: 'ASC' } }))
      hosts.set(a.hostAddress, { licenceId: a.licenceId, indices: a.indices });
    return hosts;
  }
}
