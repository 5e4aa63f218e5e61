import { z } from 'zod';
import { getAddress, isAddress, type Address } from 'viem';

export const CLOPEN_CONTRACT_NAMES = ['ModelRegistry', 'HostCollateral', 'UsageLedger', 'RewardsVault'] as const;
export type ClopenContractName = (typeof CLOPEN_CONTRACT_NAMES)[number];

/**
 * The CHAIN_CONTRACTS setting shared by every service that talks to the chain: the deployed
 * contracts as `Name:0xaddress` separated by commas, names from libs/contracts.
 */
export function chainContractsSetting(required: readonly ClopenContractName[] = []) {
  return z.string().transform((spec, ctx) => {
    const out = new Map<ClopenContractName, Address>();
    for (const part of spec
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)) {
      const [name, address] = part.split(':');
      if (!CLOPEN_CONTRACT_NAMES.includes(name as ClopenContractName) || !address || !isAddress(address)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${part}" is not Name:0xaddress with a name among ${CLOPEN_CONTRACT_NAMES.join(', ')}` });
        return z.NEVER;
      }
      out.set(name as ClopenContractName, getAddress(address));
    }
    const missing = required.filter((n) => !out.has(n));
    if (!out.size || missing.length) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: missing.length ? `name ${missing.join(', ')} too` : 'name at least one contract' });
      return z.NEVER;
    }
    return out;
  });
}
