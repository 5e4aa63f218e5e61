import { createPublicClient, createWalletClient, defineChain, http, type PublicClient } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { deployClopenContracts, type ClopenAddresses } from '@clopen/contracts';
import { startHardhatNode, type HardhatNode } from '@clopen/testing';

/** A hardhat node with the Clopen contracts deployed by its first account: the indexer's test and bench chain. */
export async function deployedChain() {
  const node: HardhatNode = await startHardhatNode();
  const chain = defineChain({ id: node.chainId, name: 'hardhat', nativeCurrency: { name: 'ETH', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: [node.url] } } });
  const account = privateKeyToAccount(node.accounts[0]);
  const publicClient = createPublicClient({ chain, cacheTime: 0, transport: http(node.url, { retryCount: 0 }) }) as PublicClient;
  const wallet = createWalletClient({ account, chain, transport: http(node.url, { retryCount: 0 }) });
  const addresses: ClopenAddresses = await deployClopenContracts(wallet, publicClient, {
    protocol: privateKeyToAccount(node.accounts[1]).address,
    unstakeDelaySeconds: 60n,
    appealWindowSeconds: 60n,
    proverBountyBps: 1000,
    shares: { ownerBps: 5000, hostBps: 3000, proverBps: 1000, protocolBps: 1000 },
  });
  /** CHAIN_CONTRACTS for the indexer. */
  const contracts = `ModelRegistry:${addresses.modelRegistry},HostCollateral:${addresses.hostCollateral},UsageLedger:${addresses.usageLedger},RewardsVault:${addresses.rewardsVault}`;
  return { node, account, publicClient, wallet, addresses, contracts };
}
