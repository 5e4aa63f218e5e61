import type { ServiceDefinition } from '@clopen/service-kit';
import { CreateStorage1764100000000 } from './migrations/1764100000000-create-storage';
import { Model } from './models/model.entity';
import { storageSettings } from './storage.settings';
import { StorageModule } from './storage.module';
import { ArtefactFile, ModelVersion, VersionParent } from './versions/version.entity';

export const storageService: ServiceDefinition<typeof storageSettings> = {
  name: 'storage',
  title: 'Clopen storage',
  description: 'Models, versions and their lineage, and the artefact files of each version in S3.',
  settings: storageSettings,
  entities: [Model, ModelVersion, VersionParent, ArtefactFile],
  migrations: [CreateStorage1764100000000],
  uses: { bus: true, s3: true },
  modules: () => [StorageModule],
};
