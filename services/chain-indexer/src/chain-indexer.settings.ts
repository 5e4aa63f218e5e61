import { chainContractsSetting } from '@clopen/contracts';
import { baseSettings, busSettings, databaseSettings, setting, type loadConfig } from '@clopen/config';

export const chainIndexerSettings = {
  ...baseSettings,
  ...databaseSettings,
  ...busSettings,
  /** JSON-RPC endpoint of the chain (a node the operator trusts; hardhat node locally). */
  CHAIN_RPC_URL: setting.url(['http', 'https']),
  /** The deployed contracts, `Name:0xaddress` separated by commas; names from libs/contracts. */
  CHAIN_CONTRACTS: chainContractsSetting(),
  /** Blocks a log waits under the head before it is published (0 on a dev chain). */
  CHAIN_CONFIRMATIONS: setting.nonNegativeInt.max(10_000).default(12),
  /** First block to read (the deployment block). */
  CHAIN_START_BLOCK: setting.nonNegativeInt.default(0),
  /** Blocks read per step. */
  CHAIN_BATCH_BLOCKS: setting.positiveInt.max(10_000).default(500),
  /** Pause between steps once caught up. */
  CHAIN_POLL_MS: setting.positiveInt.default(2_000),
  /** Indexed block hashes kept to find where a reorg forked; a deeper reorg stops the indexer for an operator. */
  CHAIN_REORG_WINDOW: setting.positiveInt.max(100_000).default(256),
};

export type ChainIndexerConfig = ReturnType<typeof loadConfig<typeof chainIndexerSettings>>;
