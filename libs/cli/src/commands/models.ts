import { Option, type Command } from 'commander';
import type { Model, Version } from '../client';
import type { Action } from '../program';
import { bytes, fields, progressBar, table } from '../render';
import { uploadFolder } from '../upload';
import { collect, jsonObject, positiveInt, uuid } from './args';

export function registerModels(program: Command, action: Action): void {
  const models = program.command('models').description('models and their versions (storage)');

  models
    .command('create')
    .description('register a model (role owner)')
    .requiredOption('--name <name>', 'the model name, unique per owner')
    .option('--description <text>', 'what the model is')
    .option('--owner <principalId>', 'admins only: register it for this owner')
    .action(
      action(async (app, cmd) => {
        const o = app.options(cmd);
        const model = await app.client(cmd).createModel({ name: o.name, description: o.description, ownerId: o.owner });
        return { data: model, human: modelFields(model) };
      }),
    );

  models
    .command('list')
    .description('models, oldest first')
    .option('--owner <principalId>', 'only the models of this owner')
    .option('--after <modelId>', 'the last id of the previous page', uuid)
    .option('--limit <n>', 'at most n models (storage caps it at 500)', positiveInt)
    .action(
      action(async (app, cmd) => {
        const o = app.options(cmd);
        const list = await app.client(cmd).listModels({ ownerId: o.owner, after: o.after, limit: o.limit });
        return {
          data: list,
          human: table(list, [
            { header: 'ID', value: (m) => m.id },
            { header: 'NAME', value: (m) => m.name },
            { header: 'OWNER', value: (m) => m.ownerId },
            { header: 'CREATED', value: (m) => m.createdAt },
            { header: 'DESCRIPTION', value: (m) => m.description },
          ]),
        };
      }),
    );

  models
    .command('upload')
    .summary('publish a model folder as a version (checksums, progress bar; re-run to finish an interrupted upload)')
    .description(
      'publish a model folder (config.json, model.safetensors, tokenizer.json, …) as a version, with checksums and a progress bar; ' +
        'if it is interrupted, run the same command again: storage keeps no partial upload, so the folder is sent again, and a label already published with the same files is reported, not refused',
    )
    .argument('<folder>', 'the model folder (flat: every file at its top level)')
    .requiredOption('--model <modelId>', 'the model to publish to', uuid)
    .requiredOption('--label <label>', 'the version label, e.g. 1.0.0 (versions are immutable)')
    .addOption(new Option('--kind <kind>', 'what the version is').choices(['base', 'finetune', 'oml', 'quantized', 'merge']).default('base'))
    .option('--parent <versionId>', 'a parent version (repeat for a merge)', collect(uuid), [])
    .option('--licence <json>', 'the licence terms as a JSON object', jsonObject, {})
    .action(
      action(async (app, cmd, folder) => {
        const o = app.options(cmd);
        const json = app.json(cmd);
        const { outcome, version } = await uploadFolder(
          app.client(cmd),
          o.model,
          folder,
          { label: o.label, kind: o.kind, parents: o.parent, licence: o.licence },
          progressBar(app.io, json),
        );
        const head =
          outcome === 'published'
            ? `published ${version.label} as version ${version.id}`
            : `already published: ${version.label} is version ${version.id} with the same files; nothing was sent`;
        return { data: { outcome, version }, human: `${head}\n\n${versionText(version)}` };
      }),
    );

  const versions = program.command('versions').description('published versions (storage)');
  versions
    .command('show')
    .description('a version: kind, parents, files with their sizes and sha256s, lineage')
    .argument('<versionId>', 'the version id', uuid)
    .action(
      action(async (app, cmd, id) => {
        const client = app.client(cmd);
        const [version, lineage] = await Promise.all([client.getVersion(id), client.lineage(id)]);
        const ancestors = lineage.filter((l) => l.depth > 0);
        const human = `${versionText(version)}${
          ancestors.length
            ? `\n\nlineage:\n${table(ancestors, [
                { header: 'DEPTH', value: (l) => l.depth },
                { header: 'VERSION', value: (l) => l.id },
                { header: 'LABEL', value: (l) => l.label },
                { header: 'KIND', value: (l) => l.kind },
                { header: 'MODEL', value: (l) => l.modelId },
              ])}`
            : ''
        }`;
        return { data: { ...version, lineage: ancestors }, human };
      }),
    );
  versions
    .command('list')
    .description("a model's versions, oldest first")
    .requiredOption('--model <modelId>', 'the model', uuid)
    .action(
      action(async (app, cmd) => {
        const list = await app.client(cmd).listVersions(app.options(cmd).model);
        return {
          data: list,
          human: table(list, [
            { header: 'ID', value: (v) => v.id },
            { header: 'LABEL', value: (v) => v.label },
            { header: 'KIND', value: (v) => v.kind },
            { header: 'FILES', value: (v) => v.files.length },
            { header: 'SIZE', value: (v) => bytes(v.totalBytes) },
            { header: 'PUBLISHED', value: (v) => v.publishedAt },
          ]),
        };
      }),
    );
}

function modelFields(m: Model): string {
  return fields([
    ['model', m.id],
    ['name', m.name],
    ['owner', m.ownerId],
    ['description', m.description],
    ['created', m.createdAt],
  ]);
}

function versionText(v: Version): string {
  return `${fields([
    ['version', v.id],
    ['model', v.modelId],
    ['label', v.label],
    ['kind', v.kind],
    ['parents', v.parents],
    ['licence', v.licence],
    ['size', `${bytes(v.totalBytes)} (${v.totalBytes} bytes)`],
    ['manifest sha256', v.manifestSha256],
    ['published', v.publishedAt],
  ])}\n\n${table(v.files, [
    { header: 'FILE', value: (f) => f.path },
    { header: 'SIZE', value: (f) => f.size },
    { header: 'SHA256', value: (f) => f.sha256 },
  ])}`;
}
