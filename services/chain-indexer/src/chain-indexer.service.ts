import type { ServiceDefinition } from '@clopen/service-kit';
import { chainIndexerSettings } from './chain-indexer.settings';
import { IndexedBlock } from './indexer/indexed-block.entity';
import { IndexerModule } from './indexer/indexer.module';
import { ChainBlocks1764400000000 } from './migrations/1764400000000-chain-blocks';

export const chainIndexerService: ServiceDefinition<typeof chainIndexerSettings> = {
  name: 'chain_indexer',
  title: 'Clopen chain indexer',
  description:
    "Publishes the Clopen contracts' logs on JetStream (chain.<contract>.<event>) once each, after the configured confirmations; detects reorgs by parent hash, rolls back and publishes chain.blocks.reorged.",
  settings: chainIndexerSettings,
  entities: [IndexedBlock],
  migrations: [ChainBlocks1764400000000],
  uses: { bus: true },
  modules: () => [IndexerModule],
};
