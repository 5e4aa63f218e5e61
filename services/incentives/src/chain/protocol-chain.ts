import { Inject, Injectable } from '@nestjs/common';
import { createPublicClient, http, type Address, type PublicClient } from 'viem';
import { privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts';
import { clopenContracts, type ClopenAddresses } from '@clopen/contracts';
import { CONFIG } from '@clopen/service-kit';
import type { IncentivesConfig } from '../incentives.settings';

/**
 * The chain as this service sees it: a public client for reads and simulations, and the protocol
 * account that signs (locally: the key never leaves the process, the node only gets raw transactions).
 */
@Injectable()
export class ProtocolChain {
  readonly client: PublicClient;
  readonly account: PrivateKeyAccount;
  private chainIdCache?: number;
  private addressesCache?: ClopenAddresses;

  constructor(@Inject(CONFIG) private readonly config: IncentivesConfig) {
    this.account = privateKeyToAccount(config.INCENTIVES_PROTOCOL_KEY as `0x${string}`);
    // No transport retries: a failed call is retried by the next tick, and a send is never repeated blindly.
    this.client = createPublicClient({
      cacheTime: 0,
      transport: http(config.CHAIN_RPC_URL, { retryCount: 0, timeout: config.CHAIN_RPC_TIMEOUT_MS }),
    }) as PublicClient;
  }

  get treasury(): Address {
    return this.config.INCENTIVES_TREASURY_ADDRESS ?? this.account.address;
  }

  address(name: 'ModelRegistry' | 'HostCollateral' | 'UsageLedger' | 'RewardsVault'): Address {
    return this.config.CHAIN_CONTRACTS.get(name)!;
  }

  async chainId(): Promise<number> {
    this.chainIdCache ??= await this.client.getChainId();
    return this.chainIdCache;
  }

  /** The deployed addresses, with the collateral token read once from HostCollateral. */
  async addresses(): Promise<ClopenAddresses> {
    if (!this.addressesCache) {
      const hostCollateral = this.address('HostCollateral');
      const contracts = clopenContracts({ hostCollateral } as ClopenAddresses, this.client);
      const token = await contracts.hostCollateral.read.token();
      this.addressesCache = {
        token,
        modelRegistry: this.address('ModelRegistry'),
        hostCollateral,
        usageLedger: this.address('UsageLedger'),
        rewardsVault: this.address('RewardsVault'),
      };
    }
    return this.addressesCache;
  }

  async contracts() {
    return clopenContracts(await this.addresses(), this.client);
  }

  /** The newest block a read may trust: `confirmations` under the head. */
  async settledBlock(confirmations: number): Promise<bigint> {
    const head = await this.client.getBlockNumber();
    return head > BigInt(confirmations) ? head - BigInt(confirmations) : 0n;
  }

  /** The chain's clock (the newest block's timestamp), which appeal windows are measured by. */
  async now(): Promise<Date> {
    const block = await this.client.getBlock({ blockTag: 'latest' });
    return new Date(Number(block.timestamp) * 1000);
  }
}
