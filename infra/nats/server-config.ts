// Writes the NATS server configuration of a deployment: its accounts and users come from
// libs/bus (natsAccounts: who may publish and read what), the keys from the deployment's identities
// (public nkeys only; the seeds stay with their owners).
import { natsAccounts, type BusIdentities, type NatsAccount, type NatsPermissions } from '@clopen/bus';

export interface NatsServerSettings {
  /** Client address; default 0.0.0.0:4222. */
  listen?: string;
  /** Monitoring port (/healthz, /varz); omitted: none. */
  httpPort?: number;
  /** JetStream's directory. */
  storeDir: string;
}

// NATS configuration accepts JSON values; quoting every string keeps `$JS…` from reading as a variable.
const q = (value: string | number | boolean) => JSON.stringify(value);
const list = (values: readonly string[], indent: string) =>
  values.length <= 1 ? `[${values.map(q).join(', ')}]` : `[\n${values.map((v) => `${indent}  ${q(v)}`).join('\n')}\n${indent}]`;

function permissionsBlock(p: NatsPermissions, indent: string): string[] {
  const i = `${indent}  `;
  const side = (name: string, s: { allow: string[]; deny?: string[] }) => [
    `${i}${name}: {`,
    `${i}  allow: ${list(s.allow, `${i}  `)}`,
    ...(s.deny?.length ? [`${i}  deny: ${list(s.deny, `${i}  `)}`] : []),
    `${i}}`,
  ];
  return [
    `${indent}permissions: {`,
    ...side('publish', p.publish),
    ...side('subscribe', p.subscribe),
    ...(p.allow_responses ? [`${i}allow_responses: true`] : []),
    `${indent}}`,
  ];
}

function accountBlock(a: NatsAccount): string[] {
  const lines = [`  ${q(a.name)}: {`];
  if (a.jetstream) lines.push('    jetstream: enabled');
  lines.push('    users: [');
  for (const u of a.users)
    lines.push(`      # ${u.comment}`, '      {', `        nkey: ${q(u.nkey)}`, ...permissionsBlock(u.permissions, '        '), '      }');
  lines.push('    ]');
  if (a.exports.length) {
    lines.push('    exports: [');
    for (const e of a.exports) {
      lines.push(`      { service: ${q(e.service)}, accounts: [${e.accounts.map(q).join(', ')}]${e.responses ? `, response_type: ${q(e.responses)}` : ''} }`);
    }
    lines.push('    ]');
  }
  if (a.imports.length) {
    lines.push('    imports: [');
    for (const i of a.imports) lines.push(`      { service: { account: ${q(i.account)}, subject: ${q(i.subject)} }, to: ${q(i.to)} }`);
    lines.push('    ]');
  }
  lines.push('  }');
  return lines;
}

/**
 * The whole server configuration. A connection without a known nkey is refused: there is no
 * anonymous user. Every service and partner is one user; rotate a key by listing two for a while.
 */
export function renderNatsServerConfig(identities: BusIdentities, settings: NatsServerSettings): string {
  const accounts = natsAccounts(identities);
  return [
    '# NATS server configuration of Clopen, written by `npm run nats:config` (infra/nats/README.md) from',
    '# the permissions in libs/bus/src/permissions.ts and the public nkeys of the deployment. Do not edit',
    '# by hand: add a service or partner with `npm run nats:credentials` and write this file again.',
    `listen: ${q(settings.listen ?? '0.0.0.0:4222')}`,
    ...(settings.httpPort ? [`http_port: ${settings.httpPort}`] : []),
    'jetstream: {',
    `  store_dir: ${q(settings.storeDir)}`,
    '}',
    'accounts: {',
    ...accounts.flatMap(accountBlock),
    '}',
    '',
  ].join('\n');
}
