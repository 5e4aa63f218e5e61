import { generateKeyPairSync } from 'node:crypto';
import type { Command } from 'commander';
import type { Grant, Violation } from '../client';
import { UsageError } from '../errors';
import type { Action } from '../program';
import { fields, pValue, table } from '../render';
import { address, collect, nonNegativeInt, positiveInt, uuid } from './args';

export function registerAccess(program: Command, action: Action): void {
  const grants = program.command('grants').description("end users' permission grants (access)");

  grants
    .command('issue')
    .description("issue a grant for a model bound to the user's ed25519 key (role user, for the key's principal, or admin)")
    .requiredOption('--model <modelId>', 'the model', uuid)
    .option('--user-key <publicKey>', "the user's ed25519 public key, 32 bytes base64url; without it a key pair is made and its private seed printed once")
    .option('--requests <n>', 'request quota', nonNegativeInt)
    .option('--tokens <n>', 'token quota', nonNegativeInt)
    .option('--days <n>', 'valid for n days', positiveInt, 30)
    .option('--host <address>', 'only at this host (repeat for several; none: any licensed host)', collect(address), [])
    .action(
      action(async (app, cmd) => {
        const o = app.options(cmd);
        if (!o.requests && !o.tokens) throw new UsageError('a grant needs a quota: --requests <n> and/or --tokens <n>');
        let userKey: { publicKey: string; privateKeySeed?: string } = { publicKey: o.userKey };
        if (!o.userKey) {
          const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
          userKey = { publicKey: jwk.x!, privateKeySeed: jwk.d! };
        } else if (Buffer.from(o.userKey, 'base64url').length !== 32) {
          throw new UsageError('--user-key must be an ed25519 public key: 32 bytes as base64url (43 characters)');
        }
        const grant = await app.client(cmd).issueGrant({
          modelId: o.model,
          userPublicKey: userKey.publicKey,
          quota: { ...(o.requests ? { requests: o.requests } : {}), ...(o.tokens ? { tokens: o.tokens } : {}) },
          days: o.days,
          ...(o.host.length ? { hosts: o.host } : {}),
        });
        const seed = userKey.privateKeySeed;
        return {
          data: seed ? { ...grant, userKey } : grant,
          human: `${grantFields(grant)}${
            seed
              ? `\n\nuser key (made now; keep the private seed secret, it is shown only once):\n${fields([
                  ['public key', userKey.publicKey],
                  ['private seed', seed],
                ])}`
              : ''
          }`,
        };
      }),
    );

  grants
    .command('revoke')
    .description('revoke a grant (its user or an admin); hosts refuse it within seconds')
    .argument('<grantId>', 'the grant', uuid)
    .requiredOption('--reason <text>', 'why, kept with the grant and sent to hosts')
    .action(
      action(async (app, cmd, id) => {
        const grant = await app.client(cmd).revokeGrant(id, app.options(cmd).reason);
        return { data: grant, human: `revoked grant ${grant.id} at ${grant.revokedAt}: ${grant.revokedReason}` };
      }),
    );

  program
    .command('epochs')
    .description('usage epochs (access)')
    .command('list')
    .description('closed epochs, newest first: receipts and the Merkle root over them (roles host, user, admin)')
    .option('--before <number>', 'only epochs before this number (paging back)', positiveInt)
    .option('--limit <n>', 'at most n epochs (access caps it at 1000)', positiveInt)
    .action(
      action(async (app, cmd) => {
        const o = app.options(cmd);
        const list = await app.client(cmd).listEpochs({ before: o.before, limit: o.limit });
        return {
          data: list,
          human: table(list, [
            { header: 'EPOCH', value: (e) => e.number },
            { header: 'STARTED', value: (e) => e.startedAt },
            { header: 'ENDED', value: (e) => e.endedAt },
            { header: 'RECEIPTS', value: (e) => e.receiptCount },
            { header: 'ROOT', value: (e) => e.root },
          ]),
        };
      }),
    );

  const violations = program.command('violations').description('violations proven by provers (access; role admin)');
  violations
    .command('list')
    .description('proven violations, newest first')
    .action(
      action(async (app, cmd) => {
        const list = await app.client(cmd).listViolations();
        return {
          data: list,
          human: table(list, [
            { header: 'ID', value: (v) => v.id },
            { header: 'KIND', value: (v) => v.kind },
            { header: 'ENDPOINT', value: (v) => v.endpoint },
            { header: 'ACCUSED', value: (v) => v.accused.map((a) => `${a.hostAddress} (${a.role})`) },
            { header: 'PROVEN', value: (v) => v.createdAt },
          ]),
        };
      }),
    );
  violations
    .command('show')
    .description('a violation: who is accused with which p-value, and the evidence (with --json)')
    .argument('<violationId>', 'the violation', uuid)
    .action(
      action(async (app, cmd, id) => {
        const v = await app.client(cmd).getViolation(id);
        return { data: v, human: violationText(v) };
      }),
    );
}

function grantFields(g: Grant): string {
  return fields([
    ['grant', g.id],
    ['model', g.modelId],
    ['user', g.userId],
    ['hosts', g.hosts.length ? g.hosts : 'any licensed host'],
    [
      'quota',
      [g.quota.requests ? `${g.quota.requests} requests` : 'no request limit', g.quota.tokens ? `${g.quota.tokens} tokens` : 'no token limit'].join(', '),
    ],
    ['valid', `${g.notBefore} → ${g.expiresAt}`],
    ['issuer key', g.issuerKeyId],
    ['revoked', g.revokedAt ? `${g.revokedAt}: ${g.revokedReason}` : undefined],
  ]);
}

export function violationText(v: Violation): string {
  return `${fields([
    ['violation', v.id],
    ['kind', v.kind],
    ['endpoint', v.endpoint],
    ['version', v.versionId],
    ['prover', v.prover],
    ['keys answered', `${v.keysAnswered} of ${v.keysAsked} (${v.queries} queries with decoys)`],
    ['unpermitted answers', v.unpermittedAnswers],
    ['false-accusation bound', v.falseAccusation],
    ['trace', v.traceId],
    ['evidence sha256', v.evidenceSha256],
    ['proven', v.createdAt],
  ])}\n\n${table(v.accused, [
    { header: 'ACCUSED', value: (a) => a.hostAddress },
    { header: 'ROLE', value: (a) => a.role },
    { header: 'P-VALUE', value: (a) => pValue(a.pValue) },
  ])}`;
}
