import { InvalidArgumentError, type Command } from 'commander';
import type { ServiceName } from '../client';
import type { Action } from '../program';
import { fields, table } from '../render';

/** The services whose consumers can give up on an event. */
const CONSUMING: ServiceName[] = ['distribution', 'access', 'incentives'];

function service(value: string): ServiceName {
  if (!CONSUMING.includes(value as ServiceName)) throw new InvalidArgumentError(`must be one of ${CONSUMING.join(', ')}`);
  return value as ServiceName;
}

function sequence(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be the seq of a dead letter (a whole number ≥ 1)');
  return n;
}

export function registerDeadLetters(program: Command, action: Action): void {
  const dead = program
    .command('dead-letters')
    .description("events a service's consumers gave up on, with why; redrive them once the cause is fixed (role admin)");
  dead
    .command('list')
    .description("a service's dead letters, oldest first")
    .requiredOption('--service <name>', `the service whose consumers gave up (${CONSUMING.join(', ')})`, service)
    .option('--subject <subject>', 'only those of this event subject')
    .option('--unhandled', 'only those not handled since')
    .option('--after <seq>', 'the page after this seq (the `next` of the previous page)', sequence)
    .option('--limit <n>', 'at most this many (default 100)', sequence)
    .action(
      action(async (app, cmd) => {
        const o = app.options<{ service: ServiceName; subject?: string; unhandled?: boolean; after?: number; limit?: number }>(cmd);
        const page = await app
          .client(cmd)
          .deadLetters(o.service, { subject: o.subject, after: o.after, limit: o.limit, ...(o.unhandled ? { unhandled: 'true' as const } : {}) });
        const human = table(page.deadLetters, [
          { header: 'SEQ', value: (d) => d.seq },
          { header: 'SUBJECT', value: (d) => d.subject },
          { header: 'EVENT', value: (d) => d.envelope?.id ?? '(undecodable)' },
          { header: 'ATTEMPTS', value: (d) => d.attempts },
          { header: 'HANDLED', value: (d) => (d.handled ? 'yes' : 'no') },
          { header: 'REASON', value: (d) => d.reason },
        ]);
        return { data: page, human: page.next !== undefined ? `${human}\nmore: --after ${page.next}` : human };
      }),
    );
  dead
    .command('redrive')
    .description('runs a dead letter again through the consumer that gave up on it; once handled, again does nothing')
    .argument('<seq>', 'the seq of the dead letter (from `dead-letters list`)', sequence)
    .requiredOption('--service <name>', `the service whose consumer gave up (${CONSUMING.join(', ')})`, service)
    .action(
      action(async (app, cmd, seq) => {
        const o = app.options<{ service: ServiceName }>(cmd);
        const r = await app.client(cmd).redriveDeadLetter(o.service, seq as unknown as number);
        return {
          data: r,
          human: fields([
            ['seq', r.deadLetter.seq],
            ['subject', r.deadLetter.subject],
            ['event', r.deadLetter.envelope?.id ?? ''],
            ['outcome', r.outcome === 'handled' ? 'handled' : 'already handled before; nothing ran'],
          ]),
        };
      }),
    );
}
