import {
  getAddress,
  getContract,
  erc20Abi,
  keccak256,
  toHex,
  zeroHash,
  type Abi,
  type Account,
  type Address,
  type Chain,
  type Client,
  type ContractConstructorArgs,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from 'viem';
import {
  hostCollateralAbi,
  hostCollateralBytecode,
  modelRegistryAbi,
  modelRegistryBytecode,
  rewardsVaultAbi,
  rewardsVaultBytecode,
  testTokenAbi,
  testTokenBytecode,
  usageLedgerAbi,
  usageLedgerBytecode,
} from './generated';

export const DEFAULT_ADMIN_ROLE = zeroHash;
/** Writes usage and assignment roots, proposes/resolves/executes slashes, posts allocations: the operator key in incentives. */
export const PROTOCOL_ROLE = keccak256(toHex('PROTOCOL_ROLE'));
/** Sets unstake delay, appeal window, prover bounty and reward shares. */
export const GOVERNANCE_ROLE = keccak256(toHex('GOVERNANCE_ROLE'));
export const BASIS_POINTS = 10_000;

/** How an epoch's fees are split, in basis points summing to 10000 (RewardsVault.Shares). */
export interface RewardShares {
  ownerBps: number;
  hostBps: number;
  proverBps: number;
  protocolBps: number;
}

export interface ClopenDeployParams {
  /** Granted PROTOCOL_ROLE on HostCollateral, UsageLedger and RewardsVault. */
  protocol: Address;
  /** The ERC-20 for stakes and fees; without it a TestToken is deployed (local chains only: anyone can mint it). */
  token?: Address;
  unstakeDelaySeconds: bigint;
  appealWindowSeconds: bigint;
  proverBountyBps: number;
  shares: RewardShares;
}

export interface ClopenAddresses {
  token: Address;
  modelRegistry: Address;
  hostCollateral: Address;
  usageLedger: Address;
  rewardsVault: Address;
}

type Wallet = WalletClient<Transport, Chain, Account>;
/** What viem's getContract takes: one client, or a public and/or a wallet client. */
type ContractClient = Client | { public: Client; wallet?: Client } | { public?: Client; wallet: Client };

/**
 * Deploys the four contracts (and a TestToken when no token is given) from the wallet's account,
 * which keeps DEFAULT_ADMIN_ROLE and GOVERNANCE_ROLE, and grants PROTOCOL_ROLE to `params.protocol`.
 * Transactions go one after another, each awaited to its receipt.
 */
export async function deployClopenContracts(wallet: Wallet, publicClient: PublicClient, params: ClopenDeployParams): Promise<ClopenAddresses> {
  const admin = wallet.account.address;
  const confirm = async (hash: Hex) => {
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== 'success') throw new Error(`deployment transaction ${hash} reverted`);
    return receipt;
  };
  const deploy = async <const abi extends Abi>(name: string, abi: abi, bytecode: Hex, args: ContractConstructorArgs<abi>) => {
    const hash = await wallet.deployContract({ abi, bytecode, args, account: wallet.account, chain: wallet.chain } as Parameters<Wallet['deployContract']>[0]);
    const { contractAddress } = await confirm(hash);
    if (!contractAddress) throw new Error(`deploying ${name} (${hash}) created no contract`);
    return getAddress(contractAddress);
  };

  const token = params.token ?? (await deploy('TestToken', testTokenAbi, testTokenBytecode, []));
  const modelRegistry = await deploy('ModelRegistry', modelRegistryAbi, modelRegistryBytecode, []);
  const hostCollateral = await deploy('HostCollateral', hostCollateralAbi, hostCollateralBytecode, [
    admin,
    token,
    modelRegistry,
    params.unstakeDelaySeconds,
    params.appealWindowSeconds,
    params.proverBountyBps,
  ]);
  const usageLedger = await deploy('UsageLedger', usageLedgerAbi, usageLedgerBytecode, [admin]);
  const rewardsVault = await deploy('RewardsVault', rewardsVaultAbi, rewardsVaultBytecode, [admin, token, modelRegistry, params.shares]);

  for (const [address, abi] of [
    [hostCollateral, hostCollateralAbi],
    [usageLedger, usageLedgerAbi],
    [rewardsVault, rewardsVaultAbi],
  ] as const) {
    await confirm(
      await wallet.writeContract({
        address,
        abi: abi as typeof usageLedgerAbi,
        functionName: 'grantRole',
        args: [PROTOCOL_ROLE, params.protocol],
        account: wallet.account,
        chain: wallet.chain,
      }),
    );
  }
  return { token, modelRegistry, hostCollateral, usageLedger, rewardsVault };
}

/**
 * Typed viem contract instances for deployed addresses: pass a public client to read and simulate,
 * a wallet client to write, or `{ public, wallet }` for both. `token` is typed as a plain ERC-20.
 */
export function clopenContracts<const C extends ContractClient>(addresses: ClopenAddresses, client: C) {
  return {
    token: getContract({ address: addresses.token, abi: erc20Abi, client }),
    modelRegistry: getContract({ address: addresses.modelRegistry, abi: modelRegistryAbi, client }),
    hostCollateral: getContract({ address: addresses.hostCollateral, abi: hostCollateralAbi, client }),
    usageLedger: getContract({ address: addresses.usageLedger, abi: usageLedgerAbi, client }),
    rewardsVault: getContract({ address: addresses.rewardsVault, abi: rewardsVaultAbi, client }),
  };
}

/** TestToken at `address` (local chains): an ERC-20 that anyone can `mint`. */
export function testTokenContract<const C extends ContractClient>(address: Address, client: C) {
  return getContract({ address, abi: testTokenAbi, client });
}
