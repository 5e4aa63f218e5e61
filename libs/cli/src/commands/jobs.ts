import type { Command } from 'commander';
import type { EmbeddingStatus } from '../client';
import { EXIT, UsageError } from '../errors';
import type { Action } from '../program';
import { fields, statusLine } from '../render';
import { nonNegativeInt, positiveInt } from './args';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A licence id, or the copy job's id (`copy-<licence id>`, as the queue and the events name it). */
export function licenceOfJob(value: string): string {
  const id = value.startsWith('copy-') ? value.slice('copy-'.length) : value;
  if (value.startsWith('pool-'))
    throw new UsageError(`${value} is a pool generation job; watch the pool with the REST API (GET /versions/<versionId>/pool) — jobs watch follows copy jobs`);
  if (!UUID.test(id)) throw new UsageError(`${JSON.stringify(value)} is neither a licence id nor a copy job id (copy-<licence id>)`);
  return id.toLowerCase();
}

export function registerJobs(program: Command, action: Action): void {
  const jobs = program.command('jobs').description("embedding jobs: each licence's copy (distribution; role admin)");

  jobs
    .command('watch')
    .description('follow the copy job of a licence until it ends; exit code 0 when completed, 1 when failed or cancelled')
    .argument('<licenceId|jobId>', 'the licence id, or its job id copy-<licence id>')
    .option('--interval <ms>', 'poll every ms milliseconds', positiveInt, 1000)
    .option('--timeout <seconds>', 'give up after this many seconds (0: never)', nonNegativeInt, 0)
    .action(
      action(async (app, cmd, target) => {
        const licenceId = licenceOfJob(target);
        const o = app.options(cmd);
        const client = app.client(cmd);
        const line = statusLine(app.io, app.json(cmd));
        const sleep = app.io.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
        const deadline = o.timeout ? Date.now() + o.timeout * 1000 : Infinity;
        let status: EmbeddingStatus;
        for (;;) {
          status = await client.embeddingStatus(licenceId);
          line.update(describe(status));
          if (status.state === 'completed' || status.state === 'failed' || status.state === 'cancelled') break;
          if (Date.now() >= deadline) {
            line.end();
            return {
              data: { ...status, timedOut: true },
              human: `still ${status.state} after ${o.timeout} s; run the command again to keep watching`,
              exitCode: EXIT.failure,
            };
          }
          await sleep(o.interval);
        }
        line.end();
        return { data: status, human: summary(status), exitCode: status.state === 'completed' ? EXIT.ok : EXIT.failure };
      }),
    );
  registerControls(jobs, action);
}

function registerControls(jobs: Command, action: Action): void {
  for (const [name, what] of [
    ['cancel', 'cancel the copy job of a licence (it can be retried)'],
    ['retry', 'run a failed or cancelled copy job again'],
  ] as const) {
    jobs
      .command(name)
      .description(what)
      .argument('<licenceId|jobId>', 'the licence id, or its job id copy-<licence id>')
      .action(
        action(async (app, cmd, target) => {
          const client = app.client(cmd);
          const licenceId = licenceOfJob(target);
          const status = name === 'cancel' ? await client.cancelEmbedding(licenceId) : await client.retryEmbedding(licenceId);
          return { data: status, human: describe(status) };
        }),
      );
  }
}

function describe(s: EmbeddingStatus): string {
  const attempt = s.attempts ? ` attempt ${s.attempts}/${s.maxAttempts}` : '';
  switch (s.state) {
    case 'waiting_for_pool':
      return `${s.jobId}: waiting for the version's fingerprint pool`;
    case 'queued':
      return `${s.jobId}: queued${attempt}`;
    case 'running':
      return `${s.jobId}: running ${s.phase || ''} ${s.percent.toFixed(0)}%${attempt}`.replace(/\s+/g, ' ');
    default:
      return `${s.jobId}: ${s.state}`;
  }
}

function summary(s: EmbeddingStatus): string {
  const head =
    s.state === 'completed'
      ? `completed: the copy is version ${s.copyVersionId}, ${s.embedded ?? '?'} of ${s.fingerprintCount ?? '?'} fingerprints verified`
      : `${s.state}: ${s.reason ?? 'no reason given'}${s.state === 'failed' ? ' (clopen jobs retry ${s.licenceId} runs it again)' : ''}`;
  return `${head}\n\n${fields([
    ['licence', s.licenceId],
    ['job', s.jobId],
    ['state', s.state],
    ['phase', s.phase],
    ['percent', s.percent],
    ['attempts', `${s.attempts}/${s.maxAttempts}`],
    ['copy version', s.copyVersionId],
    ['updated', s.updatedAt],
  ])}`;
}
