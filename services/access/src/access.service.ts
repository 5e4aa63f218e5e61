import type { ServiceDefinition } from '@clopen/service-kit';
import { accessSettings } from './access.settings';
import { AccessModule } from './access.module';
import { Grant } from './grants/grant.entity';
import { CreateAccess1764300000000 } from './migrations/1764300000000-create-access';

export const accessService: ServiceDefinition<typeof accessSettings> = {
  name: 'access',
  title: 'Clopen access',
  description: 'Permission grants for end users (signed by rotating issuer keys, revocable); usage receipts, epochs and provers follow.',
  settings: accessSettings,
  entities: [Grant],
  migrations: [CreateAccess1764300000000],
  uses: { bus: true },
  modules: () => [AccessModule],
};
