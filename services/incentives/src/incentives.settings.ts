import { z } from 'zod';
import { isAddress, isHex, getAddress } from 'viem';
import { chainContractsSetting } from '@clopen/contracts';
import { baseSettings, busSettings, databaseSettings, setting, type loadConfig } from '@clopen/config';

export const incentivesSettings = {
  ...baseSettings,
  ...databaseSettings,
  ...busSettings,
  /** JSON-RPC endpoint of the chain (hardhat node locally). */
  CHAIN_RPC_URL: setting.url(['http', 'https']),
  /** The deployed contracts, `Name:0xaddress` separated by commas; all four are needed. */
  CHAIN_CONTRACTS: chainContractsSetting(['ModelRegistry', 'HostCollateral', 'UsageLedger', 'RewardsVault']),
  /** The protocol key (0x + 64 hex): holds PROTOCOL_ROLE, and GOVERNANCE_ROLE where governance goes through this service. Only this service has it. */
  INCENTIVES_PROTOCOL_KEY: z.string().refine((v) => isHex(v) && v.length === 66, { message: 'must be a 0x-prefixed 32-byte private key' }),
  /** Where the protocol's share of each epoch's fees goes; the protocol key's address when empty. */
  INCENTIVES_TREASURY_ADDRESS: z
    .string()
    .default('')
    .refine((v) => v === '' || isAddress(v), { message: 'must be an EVM address' })
    .transform((v) => (v ? getAddress(v) : undefined)),
  /** Initial value of the governance parameter `confirmations` (blocks a protocol transaction and a chain read wait under the head); changed over admin REST. */
  CHAIN_CONFIRMATIONS: setting.nonNegativeInt.max(10_000).default(12),
  /** Initial value of the governance parameter `slashBps`: the share of the accused host's stake a proven violation slashes. */
  INCENTIVES_SLASH_BPS: setting.positiveInt.max(10_000).default(10_000),
  /** A JSON-RPC call that takes longer fails (and is retried on the next tick; a send is never repeated blindly). */
  CHAIN_RPC_TIMEOUT_MS: setting.positiveInt.default(10_000),
  /** A sent transaction still unmined after this long is re-signed with the same nonce and higher fees. */
  TX_BUMP_AFTER_SECONDS: setting.positiveInt.default(60),
  /** Fee increase per bump, percent (nodes replace a pending transaction only for ≥ 10 %). */
  TX_FEE_BUMP_PERCENT: setting.positiveInt.min(10).max(500).default(15),
  /** maxFeePerGas is never bid above this (gwei). */
  TX_MAX_FEE_GWEI: setting.positiveInt.default(500),
  /** Protocol transactions sent and not yet confirmed at once (consecutive nonces). */
  TX_MAX_IN_FLIGHT: setting.positiveInt.max(64).default(8),
  /** Pause between two rounds of the settlement loop (send, confirm, schedule slashes and allocations). */
  INCENTIVES_TICK_MS: setting.positiveInt.default(2_000),
  /** Tests drive the loop by hand (`SettlementLoop.tick()`). */
  INCENTIVES_MANUAL: setting.bool.default('false'),
};

export type IncentivesConfig = ReturnType<typeof loadConfig<typeof incentivesSettings>>;
