import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as ts from 'typescript';

/**
 * Issue 16's `handwritten_clients` (goal 0): REST response shapes written by hand outside the
 * generated clients. A hand-written shape is an interface or object type, in code that calls a
 * service (anything but that service's own folder), whose fields are mostly those of a response
 * schema of that service: at least 3 shared fields, at least 80 % of its own fields, and either 5
 * shared fields or half of the schema's (a config that a large response merely embeds is no copy).
 * Shapes with a field JSON cannot carry (bytes, bigints, protobuf messages) are a message or a
 * domain type, not a REST body. The generated clients (libs/api-client/src/generated) and the
 * services' contracts are the one source.
 */
export interface HandwrittenShape {
  file: string;
  name: string;
  /** `<service>.<schema>` it copies. */
  copies: string;
  shared: number;
}

type Json = Record<string, any>;
const SKIP_DIRS = new Set(['node_modules', 'dist', 'generated', '.git', 'coverage']);

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    if (SKIP_DIRS.has(entry)) continue;
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...tsFiles(full));
    else if (entry.endsWith('.ts') && !entry.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

/** Property names of each response schema (object or array of objects) of each service. */
export function responseSchemas(documents: Map<string, Json>): { service: string; schema: string; fields: Set<string> }[] {
  const out: { service: string; schema: string; fields: Set<string> }[] = [];
  for (const [service, doc] of documents) {
    const schemas: Json = doc.components?.schemas ?? {};
    const used = new Set<string>();
    for (const item of Object.values<Json>(doc.paths ?? {})) {
      for (const op of Object.values<Json>(item)) {
        for (const [status, r] of Object.entries<Json>(op?.responses ?? {})) {
          if (!/^2/.test(status)) continue;
          for (const c of Object.values<Json>(r.content ?? {})) {
            const ref: string | undefined = c.schema?.$ref ?? c.schema?.items?.$ref;
            if (ref) used.add(ref.split('/').pop()!);
          }
        }
      }
    }
    for (const name of used) {
      const s = schemas[name];
      const props = s?.properties ?? s?.items?.properties;
      if (props && Object.keys(props).length >= 3) out.push({ service, schema: name, fields: new Set(Object.keys(props)) });
    }
  }
  return out;
}

/** Interfaces and object type aliases of a source file, with their property names. */
const NOT_JSON = /\b(Uint8Array|Buffer|bigint|Timestamp|[A-Za-z]+V1\.[A-Za-z]+)\b/;

function shapesOf(file: string): { name: string; fields: string[] }[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, false);
  const out: { name: string; fields: string[] }[] = [];
  const propsOf = (members: ts.NodeArray<ts.TypeElement>) => members.filter(ts.isPropertySignature).map((m) => m.name.getText(source).replace(/['"]/g, ''));
  const json = (members: ts.NodeArray<ts.TypeElement>) => !members.some((m) => ts.isPropertySignature(m) && m.type && NOT_JSON.test(m.type.getText(source)));
  const visit = (node: ts.Node) => {
    if (ts.isInterfaceDeclaration(node) && json(node.members)) out.push({ name: node.name.text, fields: propsOf(node.members) });
    else if (ts.isTypeAliasDeclaration(node) && ts.isTypeLiteralNode(node.type) && json(node.type.members))
      out.push({ name: node.name.text, fields: propsOf(node.type.members) });
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

export function handwrittenClients(root: string, documents: Map<string, Json>, folders = ['libs', 'services', 'scripts', 'tools']): HandwrittenShape[] {
  const schemas = responseSchemas(documents);
  const found: HandwrittenShape[] = [];
  for (const folder of folders) {
    for (const file of tsFiles(join(root, folder))) {
      const rel = relative(root, file);
      // The generated clients are the one source; service-kit (with libs/bus) serves every service's shared routes (api-keys, dead letters).
      if (rel.startsWith('libs/api-client/') || rel.startsWith('libs/service-kit/') || rel.startsWith('libs/bus/')) continue;
      for (const shape of shapesOf(file)) {
        if (shape.fields.length < 3) continue;
        let best: HandwrittenShape | undefined;
        for (const s of schemas) {
          if (rel.startsWith(`services/${s.service}/`)) continue; // a service's own types are its business
          const shared = shape.fields.filter((f) => s.fields.has(f)).length;
          if (shared >= 3 && shared / shape.fields.length >= 0.8 && (shared >= 5 || shared * 2 >= s.fields.size) && (!best || shared > best.shared))
            best = { file: rel, name: shape.name, copies: `${s.service}.${s.schema}`, shared };
        }
        if (best) found.push(best);
      }
    }
  }
  return found;
}
