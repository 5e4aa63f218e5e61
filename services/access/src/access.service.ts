import type { ServiceDefinition } from '@clopen/service-kit';
import { accessSettings } from './access.settings';
import { AccessModule } from './access.module';
import { Epoch } from './epochs/epoch.entity';
import { Grant } from './grants/grant.entity';
import { Epochs1764300000002 } from './migrations/1764300000002-epochs';
import { ServingKey } from './hosts/serving-key.entity';
import { Usage1764300000001 } from './migrations/1764300000001-usage';
import { UsageReceiptRecord } from './usage/usage-receipt.entity';
import { CreateAccess1764300000000 } from './migrations/1764300000000-create-access';
import { UsageBatches1764300000003 } from './migrations/1764300000003-usage-batches';

export const accessService: ServiceDefinition<typeof accessSettings> = {
  name: 'access',
  title: 'Clopen access',
  description: 'Permission grants for end users (signed by rotating issuer keys, revocable); usage receipts, epochs and provers follow.',
  settings: accessSettings,
  entities: [Grant, ServingKey, UsageReceiptRecord, Epoch],
  migrations: [CreateAccess1764300000000, Usage1764300000001, Epochs1764300000002, UsageBatches1764300000003],
  uses: { bus: true },
  modules: () => [AccessModule],
};
