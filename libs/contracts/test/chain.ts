// A chain per suite: its own hardhat node, the Clopen contracts deployed, a wallet per role, and
// each test run between an evm_snapshot and an evm_revert so tests share no state.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHardhatNode, type HardhatNode } from '@clopen/testing';
import { createPublicClient, createWalletClient, defineChain, http, parseEventLogs, type Abi, type Address, type Hex, type TransactionReceipt } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { clopenContracts, contractRevert, deployClopenContracts, testTokenContract, type ClopenDeployParams } from '../src';

export const ROLES = ['deployer', 'protocol', 'alice', 'bob', 'charlie', 'prover', 'dave', 'eve'] as const;
export type Role = (typeof ROLES)[number];

export const DEFAULTS = {
  unstakeDelaySeconds: 7n * 24n * 3600n,
  appealWindowSeconds: 3n * 24n * 3600n,
  proverBountyBps: 2_500,
  shares: { ownerBps: 7_000, hostBps: 2_000, proverBps: 500, protocolBps: 500 },
};

export type TestChain = Awaited<ReturnType<typeof startChain>>;

export async function startChain(params: Partial<ClopenDeployParams> = {}) {
  const node: HardhatNode = await startHardhatNode();
  const chain = defineChain({
    id: node.chainId,
    name: 'hardhat',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [node.url] } },
  });
  // Hardhat answers a revert with -32603 (internal error), which viem would retry three times.
  const transport = http(node.url, { retryCount: 0 });
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 20 });
  const wallets = Object.fromEntries(
    ROLES.map((role, i) => [role, createWalletClient({ account: privateKeyToAccount(node.accounts[i]), chain, transport, pollingInterval: 20 })]),
  ) as Record<Role, ReturnType<typeof createWalletClient<typeof transport, typeof chain, ReturnType<typeof privateKeyToAccount>>>>;
  const address = Object.fromEntries(ROLES.map((r) => [r, wallets[r].account.address])) as Record<Role, Address>;
  const addresses = await deployClopenContracts(wallets.deployer, publicClient, { ...DEFAULTS, protocol: address.protocol, ...params });

  /** The contracts as `role` sees them: reads through the public client, writes signed by `role`. */
  const as = (role: Role) => ({
    ...clopenContracts(addresses, { public: publicClient, wallet: wallets[role] }),
    testToken: testTokenContract(addresses.token, { public: publicClient, wallet: wallets[role] }),
  });

  /** Awaits a transaction to its receipt and fails unless it succeeded. */
  const mined = async (hash: Hex | Promise<Hex>): Promise<TransactionReceipt> => {
    const receipt = await publicClient.waitForTransactionReceipt({ hash: await hash });
    if (receipt.status !== 'success') throw new Error(`transaction ${receipt.transactionHash} reverted`);
    return receipt;
  };

  const now = async () => (await publicClient.getBlock()).timestamp;
  const balance = (who: Address) => as('deployer').token.read.balanceOf([who]);

  return { node, chain, transport, publicClient, wallets, address, addresses, as, mined, now, balance, reader: as('deployer') };
}

/** Isolates every test of the suite: evm_snapshot before, evm_revert after. */
export function isolateTests(chain: () => TestChain) {
  let snapshot: Hex;
  beforeEach(async () => {
    snapshot = await chain().node.snapshot();
  });
  afterEach(async () => {
    await chain().node.revert(snapshot);
  });
}

export function events<const abi extends Abi>(abi: abi, receipt: TransactionReceipt) {
  return parseEventLogs({ abi, logs: receipt.logs });
}

const hit = new Set<string>();

/** Expects `action` to revert with the custom error `name` (decoded by viem), and its args when given. */
export async function expectRevert(action: Promise<unknown>, name: string, args?: readonly unknown[]): Promise<void> {
  let error: unknown;
  try {
    await action;
  } catch (e) {
    error = e;
  }
  if (error === undefined) throw new Error(`expected a revert with ${name}, but the transaction went through`);
  const revert = contractRevert(error);
  if (!revert) throw error;
  expect(revert.name).toBe(name);
  if (args) expect(revert.args).toEqual(args);
  hit.add(name);
}

/** The custom errors a contract's own Solidity source declares (not those it inherits). */
export function declaredErrors(contract: string): string[] {
  const source = readFileSync(join(__dirname, '../contracts', `${contract}.sol`), 'utf8');
  return [...source.matchAll(/^\s*error (\w+)\(/gm)].map((m) => m[1]);
}

/** The declared errors of `contract` that no expectRevert of this suite has seen. */
export function errorsNotHit(contract: string): string[] {
  return declaredErrors(contract).filter((e) => !hit.has(e));
}
