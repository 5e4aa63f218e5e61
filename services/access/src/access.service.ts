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
import { Provers1764300000004 } from './migrations/1764300000004-provers';
import { PaidUsage1764300000005 } from './migrations/1764300000005-paid-usage';
import { GrantLeases1764300000006 } from './migrations/1764300000006-grant-leases';
import { ProofsOnce1764300000007 } from './migrations/1764300000007-proofs-once';
import { Prover } from './provers/prover.entity';
import { ProverChallenge } from './provers/prover-challenge.entity';
import { Violation } from './provers/violation.entity';

export const accessService: ServiceDefinition<typeof accessSettings> = {
  name: 'access',
  title: 'Clopen access',
  description:
    'Permission grants for end users (signed by rotating issuer keys, revocable), usage receipts from hosts (counted once, committed per epoch by a Merkle root), and provers proving hosts that serve without permission or copies that are not their own.',
  settings: accessSettings,
  entities: [Grant, ServingKey, UsageReceiptRecord, Epoch, Prover, ProverChallenge, Violation],
  migrations: [
    CreateAccess1764300000000,
    Usage1764300000001,
    Epochs1764300000002,
    UsageBatches1764300000003,
    Provers1764300000004,
    PaidUsage1764300000005,
    GrantLeases1764300000006,
    ProofsOnce1764300000007,
  ],
  uses: { bus: true },
  modules: () => [AccessModule],
};
