import { Conflict, Forbidden, InvalidArgument, NotFound } from '@clopen/service-kit';

export class VersionNotFound extends NotFound {
  constructor(id: string) {
    super(`model version ${id} does not exist in storage; check the version id`);
  }
}

export class OmlVersionRefused extends InvalidArgument {
  constructor(id: string) {
    super(`version ${id} is itself an OML copy; pools and licences are for the version copies are made from (its parent)`);
  }
}

export class NotModelOwner extends Forbidden {
  constructor(modelId: string) {
    super(`only the owner of model ${modelId} or an admin may do this`);
  }
}

export class PoolNotFound extends NotFound {
  constructor(versionId: string) {
    super(`version ${versionId} has no fingerprint pool; its owner creates one with POST /versions/${versionId}/pool`);
  }
}

export class PoolExists extends Conflict {
  constructor(versionId: string, status: string) {
    super(`version ${versionId} already has a fingerprint pool (${status}); a pool is generated once per version`);
  }
}

export class PoolTooSmall extends InvalidArgument {
  constructor(size: number, needed: number, coalition: number, hosts: number) {
    super(
      `a pool of ${size} fingerprints is too small to trace coalitions of up to ${coalition} among ${hosts} hosts: it needs at least ${needed}; raise the size or lower the coalition`,
    );
  }
}

export class PoolNotReady extends Conflict {
  constructor(versionId: string, status: string) {
    super(`the fingerprint pool of version ${versionId} is ${status}, not ready`);
  }
}

export class PoolExhausted extends Conflict {
  constructor(versionId: string, left: number, needed: number) {
    super(`the pool of version ${versionId} has ${left} keys never handed to a prover, fewer than the ${needed} a trace needs; more traces need a larger pool`);
  }
}

export class LicenceNotFound extends NotFound {
  constructor(id: string) {
    super(`licence ${id} does not exist`);
  }
}

export class LicenceExists extends Conflict {
  constructor(hostAddress: string, versionId: string, licenceId: string) {
    super(`host ${hostAddress} already holds active licence ${licenceId} for version ${versionId}`, { licenceId });
  }
}

export class LicenceEnded extends Forbidden {
  constructor(id: string, reason: string | null) {
    super(`licence ${id} has ended (${reason ?? 'no reason given'}); its copy is no longer delivered`);
  }
}

export class BadHostAddress extends InvalidArgument {
  constructor(value: unknown) {
    super(`hostAddress must be an EVM address (0x followed by 40 hex digits), got ${JSON.stringify(value)}`);
  }
}

export class CopyNotReady extends Conflict {
  constructor(licenceId: string, state: string, phase: string, percent: number) {
    super(`the copy for licence ${licenceId} is not ready: embedding is ${state}${phase ? ` (${phase} ${percent.toFixed(0)}%)` : ''}`);
  }
}

export class EmbeddingNotCancellable extends Conflict {
  constructor(licenceId: string, state: string) {
    super(`the embedding job of licence ${licenceId} is ${state}; only a queued or running job can be cancelled`);
  }
}

export class EmbeddingNotRetryable extends Conflict {
  constructor(licenceId: string, state: string) {
    super(`the embedding job of licence ${licenceId} is ${state}; only a failed or cancelled job of an active licence can be retried`);
  }
}

export class ChallengeNotFound extends NotFound {
  constructor(id: string) {
    super(`challenge ${id} does not exist`);
  }
}

export class ChallengeTraced extends Conflict {
  constructor(id: string, traceId: string) {
    super(`challenge ${id} was already traced (trace ${traceId}) with other outputs; its keys are spent, ask for a new challenge`, { traceId });
  }
}
