import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { previewOpenApiDocument, type ServiceDefinition } from '@clopen/service-kit';

export interface FoundService {
  /** Its folder under services/, also the name of its document. */
  folder: string;
  file: string;
  definition: ServiceDefinition<any>;
}

/** A ServiceDefinition as `runService` takes it; anything else a *.service.ts exports is not one. */
function isServiceDefinition(value: unknown): value is ServiceDefinition<any> {
  const v = value as Partial<ServiceDefinition<any>> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.name === 'string' &&
    typeof v.title === 'string' &&
    typeof v.modules === 'function' &&
    typeof v.settings === 'object' &&
    typeof v.uses === 'object'
  );
}

/**
 * Every service, found by convention: services/<folder>/src/main.ts runs the ServiceDefinition
 * that one of services/<folder>/src/*.service.ts exports. A folder without src/main.ts (the
 * end-to-end suite) is no service.
 */
export function findServices(root: string): FoundService[] {
  const found: FoundService[] = [];
  const servicesDir = join(root, 'services');
  for (const folder of readdirSync(servicesDir).sort()) {
    const src = join(servicesDir, folder, 'src');
    if (!existsSync(join(src, 'main.ts'))) continue;
    const files = readdirSync(src)
      .filter((f) => f.endsWith('.service.ts'))
      .sort();
    const definitions = files.flatMap((f) =>
      Object.values(require(join(src, f)) as Record<string, unknown>)
        .filter(isServiceDefinition)
        .map((definition) => ({ folder, file: `services/${folder}/src/${f}`, definition })),
    );
    if (definitions.length !== 1) {
      throw new Error(
        `services/${folder}/src/main.ts runs a service, but services/${folder}/src/*.service.ts export ${definitions.length} ServiceDefinitions (${definitions.map((d) => d.file).join(', ') || 'none'}); export exactly one, as the other services do`,
      );
    }
    found.push(definitions[0]);
  }
  return found;
}

/** Each service's OpenAPI document, as /docs serves it, built without starting the service. */
export async function openApiDocuments(root: string): Promise<Map<string, object>> {
  const docs = new Map<string, object>();
  for (const service of findServices(root)) docs.set(service.folder, await previewOpenApiDocument(service.definition));
  return docs;
}
