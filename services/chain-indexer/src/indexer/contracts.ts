import type { Abi } from 'viem';
import { hostCollateralAbi, modelRegistryAbi, rewardsVaultAbi, usageLedgerAbi } from '@clopen/contracts';
import { isSubject, type EventSubject } from '@clopen/bus';

/** The contracts the indexer reads, with the context name their subjects use (chain.<context>.<event>). */
export const CONTRACTS = {
  ModelRegistry: { abi: modelRegistryAbi as Abi, context: 'registry' },
  HostCollateral: { abi: hostCollateralAbi as Abi, context: 'collateral' },
  UsageLedger: { abi: usageLedgerAbi as Abi, context: 'ledger' },
  RewardsVault: { abi: rewardsVaultAbi as Abi, context: 'vault' },
} as const;

export type ContractName = keyof typeof CONTRACTS;
export const CONTRACT_NAMES = Object.keys(CONTRACTS) as ContractName[];

/** Event names whose subject is not their snake case (ERC-721's Transfer is a model changing owner). */
const RENAMED: Record<string, string> = { 'registry.Transfer': 'model_transferred' };

/**
 * The subject of a contract event, or null for events the platform does not publish (role
 * administration, ERC-721 approvals): only events in libs/bus's subject table are published.
 */
export function subjectOf(contract: ContractName, event: string): EventSubject | null {
  const context = CONTRACTS[contract].context;
  const verb = RENAMED[`${context}.${event}`] ?? event.replace(/(?<!^)(?=[A-Z])/g, '_').toLowerCase();
  const subject = `chain.${context}.${verb}`;
  return isSubject(subject) ? (subject as EventSubject) : null;
}

/** A decoded event argument as the ContractLogObserved map carries it. */
export function argText(value: unknown): string {
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'string') return value;
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}
