import { Logger } from '@nestjs/common';
import type { Job } from 'bullmq';
import type { Bus } from '@clopen/bus';
import type { EmbedCopyJob, EmbeddingProgress } from '@clopen/embedding-jobs';
import { distributionV1 } from '@clopen/proto';

/** Where each phase sits in a copy job's overall percentage. */
export const COPY_PHASES = { download: [0, 10], embed: [10, 85], verify: [85, 92], upload: [92, 100] } as const;
export type CopyPhase = keyof typeof COPY_PHASES;

/**
 * Reports a job's progress to BullMQ (what distribution's REST shows) and, for copy jobs, as
 * `distribution.embedding.progressed` events; only when the phase changes or the percentage
 * moved by `step`, so a long job does not flood either.
 */
export class ProgressReporter {
  private last: EmbeddingProgress = { phase: '', percent: -Infinity };
  private readonly log = new Logger(ProgressReporter.name);

  constructor(
    private readonly job: Job,
    private readonly step: number,
    private readonly bus?: Bus,
    private readonly copy?: EmbedCopyJob,
  ) {}

  /** `fraction` of the way through `phase` (0..1). */
  phase(phase: CopyPhase, fraction: number): void {
    const [from, to] = COPY_PHASES[phase];
    this.report(phase, from + (to - from) * Math.min(1, Math.max(0, fraction)));
  }

  report(phase: string, percent: number): void {
    const rounded = Math.round(percent * 10) / 10;
    if (phase === this.last.phase && rounded - this.last.percent < this.step && rounded < 100) return;
    this.last = { phase, percent: rounded };
    void this.job.updateProgress({ phase, percent: rounded }).catch((e: Error) => this.log.warn(`progress of job ${this.job.id}: ${e.message}`));
    if (!this.bus || !this.copy) return;
    void this.bus
      .publish('distribution.embedding.progressed', {
        jobId: this.job.id ?? '',
        licenceId: this.copy.licenceId,
        versionId: this.copy.versionId,
        hostAddress: this.copy.hostAddress,
        state: distributionV1.EmbeddingState.RUNNING,
        phase,
        percent: rounded,
        attempt: this.job.attemptsMade + 1,
      })
      .catch((e: Error) => this.log.warn(`progress event of job ${this.job.id}: ${e.message}`));
  }
}
