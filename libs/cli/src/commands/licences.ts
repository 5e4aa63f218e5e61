import { Option, type Command } from 'commander';
import type { Licence } from '../client';
import type { Action } from '../program';
import { fields, table } from '../render';
import { address, uuid } from './args';

export function registerLicences(program: Command, action: Action): void {
  const licences = program.command('licences').description("hosts' licences for model versions (distribution; role admin)");

  licences
    .command('create')
    .description("license a host for a version; distribution opens the host's copy job (`clopen jobs watch <licenceId>`)")
    .requiredOption('--version <versionId>', 'the model version (not an oml copy)', uuid)
    .requiredOption('--host <address>', "the host's EVM address", address)
    .action(
      action(async (app, cmd) => {
        const o = app.options(cmd);
        const licence = await app.client(cmd).createLicence({ versionId: o.version, hostAddress: o.host });
        return { data: licence, human: `${licenceFields(licence)}\n\nthe copy job runs now: clopen jobs watch ${licence.id}` };
      }),
    );

  licences
    .command('list')
    .description('licences, oldest first')
    .option('--version <versionId>', 'of this version', uuid)
    .option('--host <address>', 'of this host', address)
    .addOption(new Option('--status <status>', 'active or ended').choices(['active', 'ended']))
    .action(
      action(async (app, cmd) => {
        const o = app.options(cmd);
        const list = await app.client(cmd).listLicences({ versionId: o.version, host: o.host, status: o.status });
        return {
          data: list,
          human: table(list, [
            { header: 'ID', value: (l) => l.id },
            { header: 'HOST', value: (l) => l.hostAddress },
            { header: 'VERSION', value: (l) => l.versionId },
            { header: 'STATUS', value: (l) => (l.status === 'ended' ? `ended (${l.endedReason ?? ''})` : l.status) },
            { header: 'ORIGIN', value: (l) => l.origin },
            { header: 'CREATED', value: (l) => l.createdAt },
          ]),
        };
      }),
    );
}

function licenceFields(l: Licence): string {
  return fields([
    ['licence', l.id],
    ['host', l.hostAddress],
    ['model', l.modelId],
    ['version', l.versionId],
    ['status', l.status],
    ['origin', l.origin],
    ['created', l.createdAt],
  ]);
}
