// NATS identities of a deployment and its server configuration (infra/nats/README.md):
//   npm run nats:credentials -- service <name> | partner <id>   a new nkey: seed file + public key
//   npm run nats:credentials -- revoke <public key>             drops a key (after a rotation)
//   npm run nats:config -- [--store-dir /data] [--listen 0.0.0.0:4222] [--http-port 8222] [--out file]
// Both take --dir (default .local/nats): identities.json (public keys only) and the seed files.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { nkeys } from 'nats';
import { SERVICE_GRANTS, assertPartnerId, natsAccounts, type BusIdentities, type ServiceName } from '@clopen/bus';
import { renderNatsServerConfig } from './server-config';

const IDENTITIES = 'identities.json';

function load(dir: string): { services: Record<string, string[]>; partners: Record<string, string[]> } {
  const file = join(dir, IDENTITIES);
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : { services: {}, partners: {} };
}

function save(dir: string, identities: BusIdentities): void {
  natsAccounts(identities); // refuses what the server would
  writeFileSync(join(dir, IDENTITIES), `${JSON.stringify(identities, null, 2)}\n`);
}

function credentials(dir: string, kind: string, name: string): void {
  const identities = load(dir);
  let list: string[];
  if (kind === 'service') {
    if (!(name in SERVICE_GRANTS)) throw new Error(`unknown service "${name}": one of ${Object.keys(SERVICE_GRANTS).join(', ')} (libs/bus/src/permissions.ts)`);
    list = identities.services[name as ServiceName] ??= [];
  } else if (kind === 'partner') {
    assertPartnerId(name);
    list = identities.partners[name] ??= [];
  } else {
    throw new Error(`usage: nats:credentials -- service <name> | partner <id> | revoke <public key>`);
  }
  const user = nkeys.createUser();
  const publicKey = user.getPublicKey();
  const seedFile = join(dir, `${kind}-${name}-${publicKey.slice(0, 8)}.nk`);
  writeFileSync(seedFile, `${new TextDecoder().decode(user.getSeed())}\n`, { mode: 0o600 });
  chmodSync(seedFile, 0o600);
  list.push(publicKey);
  save(dir, identities);
  process.stdout.write(
    [
      `${kind} ${name}: public key ${publicKey}`,
      `seed (secret, give it to ${kind === 'service' ? 'the service as NATS_NKEY_SEED' : 'the partner, for its NATS_NKEY_SEED'}, never commit it): ${seedFile}`,
      list.length > 1
        ? `${name} now has ${list.length} keys: once every process uses the new one, drop the old with \`npm run nats:credentials -- revoke <public key>\``
        : '',
      'then write the server configuration again (npm run nats:config) and reload NATS (nats-server --signal reload, or SIGHUP)',
      '',
    ]
      .filter((l) => l !== '')
      .join('\n') + '\n',
  );
}

function revoke(dir: string, publicKey: string): void {
  const identities = load(dir);
  let found = false;
  for (const group of [identities.services, identities.partners]) {
    for (const [name, keys] of Object.entries(group)) {
      if (!keys.includes(publicKey)) continue;
      found = true;
      group[name] = keys.filter((k) => k !== publicKey);
      if (!group[name].length) delete group[name];
    }
  }
  if (!found) throw new Error(`no identity has the key ${publicKey}`);
  save(dir, identities);
  process.stdout.write(`removed ${publicKey}: write the server configuration again (npm run nats:config) and reload NATS\n`);
}

function main(argv: string[]): void {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      dir: { type: 'string', default: '.local/nats' },
      'store-dir': { type: 'string', default: '/data' },
      listen: { type: 'string', default: '0.0.0.0:4222' },
      'http-port': { type: 'string', default: '8222' },
      out: { type: 'string' },
    },
  });
  const dir = resolve(values.dir!);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (command === 'credentials') {
    const [kind, name] = positionals;
    if (kind === 'revoke' && name) return revoke(dir, name);
    if (!name) throw new Error('usage: nats:credentials -- service <name> | partner <id> | revoke <public key>');
    return credentials(dir, kind, name);
  }
  if (command === 'config') {
    const config = renderNatsServerConfig(load(dir), {
      storeDir: values['store-dir']!,
      listen: values.listen,
      httpPort: Number(values['http-port']) || undefined,
    });
    if (values.out) writeFileSync(values.out, config);
    else process.stdout.write(config);
    return;
  }
  throw new Error('usage: cli.ts credentials … | config …');
}

try {
  main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(2);
}
