import type { ServiceDefinition } from '@clopen/service-kit';
import { embedderSettings } from './embedder.settings';
import { EmbedderModule } from './embedder.module';

export const embedderService: ServiceDefinition<typeof embedderSettings> = {
  name: 'embedder',
  title: 'Clopen embedder',
  description:
    "Worker of the fingerprint-embedding queue: generates fingerprint pools and embeds each host's assignment into its own verified OML copy. HTTP serves health, readiness and metrics only.",
  settings: embedderSettings,
  entities: [],
  migrations: [],
  uses: { bus: true, redis: true },
  modules: () => [EmbedderModule],
};
