import type { ServiceDefinition } from '@clopen/service-kit';
import { incentivesSettings } from './incentives.settings';
import { IncentivesModule } from './incentives.module';
import { CreateIncentives1764500000000 } from './migrations/1764500000000-create-incentives';

export const incentivesService: ServiceDefinition<typeof incentivesSettings> = {
  name: 'incentives',
  title: 'Clopen incentives',
  description:
    'The only holder of the protocol key: commits each epoch’s usage and assignment roots, proposes slashes for proven violations and executes them after the appeal window, allocates each epoch’s fees (owner, hosts, provers, protocol), and exposes balances, claims and governance parameters over admin REST with an audit log.',
  settings: incentivesSettings,
  entities: [],
  migrations: [CreateIncentives1764500000000],
  uses: { bus: true },
  modules: () => [IncentivesModule],
};
