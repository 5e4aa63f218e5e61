import { createPublicClient, createWalletClient, defineChain, http, type PublicClient } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { deployClopenContracts, type ClopenAddresses, type ClopenDeployParams } from '@clopen/contracts';
import { startHardhatNode, type HardhatNode } from './hardhat';

/**
 * A hardhat node with the Clopen contracts deployed by its first account (admin and governance);
 * its second account holds PROTOCOL_ROLE. Tests and benches of everything that reads or writes the chain.
 */
export async function deployedChain(params: Partial<Omit<ClopenDeployParams, 'protocol'>> = {}) {
  const node: HardhatNode = await startHardhatNode();
  const chain = defineChain({
    id: node.chainId,
    name: 'hardhat',
    nativeCurrency: { name: 'ETH', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [node.url] } },
  });
  const account = privateKeyToAccount(node.accounts[0]);
  const protocolKey = node.accounts[1];
  const publicClient = createPublicClient({ chain, cacheTime: 0, transport: http(node.url, { retryCount: 0 }) }) as PublicClient;
  const wallet = createWalletClient({ account, chain, transport: http(node.url, { retryCount: 0 }) });
  const addresses: ClopenAddresses = await deployClopenContracts(wallet, publicClient, {
    protocol: privateKeyToAccount(protocolKey).address,
    unstakeDelaySeconds: 60n,
    appealWindowSeconds: 60n,
    proverBountyBps: 1000,
    shares: { ownerBps: 5000, hostBps: 3000, proverBps: 1000, protocolBps: 1000 },
    ...params,
  });
  /** The CHAIN_CONTRACTS setting of the services. */
  const contracts = `ModelRegistry:${addresses.modelRegistry},HostCollateral:${addresses.hostCollateral},UsageLedger:${addresses.usageLedger},RewardsVault:${addresses.rewardsVault}`;
  return { node, chain, account, protocolKey, publicClient, wallet, addresses, contracts };
}

export type DeployedChain = Awaited<ReturnType<typeof deployedChain>>;
