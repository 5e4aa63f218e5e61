// `npm run apidocs:generate` writes the AsyncAPI document of the bus, each service's OpenAPI
// document and the generated parts of the partner page; `npm run apidocs:check` (a step of
// `npm test`) fails when any of them is stale.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CLIENTS_DIR, OPENAPI_DIR, REGENERATE, generatedDocuments, staleDocuments } from './documents';
import { handwrittenClients } from './handwritten-clients';
import { typedOperations } from './typed-operations';

const root = join(__dirname, '../../..');

async function main(mode: string | undefined): Promise<number> {
  if (mode !== 'generate' && mode !== 'check') {
    process.stderr.write('usage: apidocs generate|check\n');
    return 2;
  }
  const generated = await generatedDocuments(root);
  if (mode === 'check') {
    const problems = staleDocuments(root, generated);
    if (problems.length) {
      process.stderr.write(`${problems.map((p) => `  ${p}`).join('\n')}\nAPI documents are stale: run \`${REGENERATE}\` and commit the result\n`);
      return 1;
    }
    process.stdout.write(`API documents up to date (${generated.size} files)\n`);
    // Issue 16's measure of the REST contracts (goal 1.0); the untyped operations go to stderr.
    const docs = new Map(
      [...generated]
        .filter(([path]) => path.startsWith(`${OPENAPI_DIR}/`))
        .map(([path, content]) => [path.slice(OPENAPI_DIR.length + 1, -'.json'.length), JSON.parse(content)]),
    );
    const typed = typedOperations(docs);
    process.stdout.write(
      `${JSON.stringify({ bench: 'contracts', metric: 'typed_operations_fraction', value: Math.round((typed.typed / typed.operations) * 1000) / 1000, unit: 'ratio' })}\n`,
    );
    if (process.env.APIDOCS_LIST_UNTYPED) process.stderr.write(`${typed.untyped.join('\n')}\n`);
    const handwritten = handwrittenClients(root, docs);
    process.stdout.write(`${JSON.stringify({ bench: 'contracts', metric: 'handwritten_clients', value: handwritten.length, unit: 'count' })}\n`);
    if (process.env.APIDOCS_LIST_UNTYPED)
      process.stderr.write(`${handwritten.map((h) => `${h.file}: ${h.name} copies ${h.copies} (${h.shared} fields)`).join('\n')}\n`);
    return 0;
  }
  for (const folder of [OPENAPI_DIR, CLIENTS_DIR]) {
    mkdirSync(join(root, folder), { recursive: true });
    for (const f of readdirSync(join(root, folder))) {
      if (!generated.has(`${folder}/${f}`)) rmSync(join(root, folder, f));
    }
  }
  for (const [path, content] of generated) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
    process.stdout.write(`wrote ${path}\n`);
  }
  return 0;
}

main(process.argv[2]).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`apidocs: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
