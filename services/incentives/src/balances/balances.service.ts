import { Injectable } from '@nestjs/common';
import { erc20Abi, type Address } from 'viem';
import { ProtocolChain } from '../chain/protocol-chain';
import { EpochsService } from '../epochs/epochs.service';

/** Models whose stakes a balance lists at most (read one by one from the chain). */
const MAX_MODELS = 200n;

@Injectable()
export class BalancesService {
  constructor(
    private readonly chain: ProtocolChain,
    private readonly epochs: EpochsService,
  ) {}

  /** An account as the chain and this service see it: token balance, stakes per model, claims per epoch. */
  async of(address: Address) {
    const { token, modelRegistry, hostCollateral } = await this.chain.contracts();
    const [balance, symbol, models, claims] = await Promise.all([
      token.read.balanceOf([address]),
      this.chain.client.readContract({ address: token.address, abi: erc20Abi, functionName: 'symbol' }).catch(() => ''),
      modelRegistry.read.modelCount(),
      this.epochs.claims(address),
    ]);
    const stakes = [];
    for (let m = 1n; m <= models && m <= MAX_MODELS; m++) {
      const s = await hostCollateral.read.stakeOf([address, m]);
      if (s.active > 0n || s.unbonding > 0n) {
        stakes.push({
          modelId: m.toString(),
          active: s.active.toString(),
          unbonding: s.unbonding.toString(),
          unbondingReadyAt: s.unbondingReadyAt ? new Date(Number(s.unbondingReadyAt) * 1000).toISOString() : null,
        });
      }
    }
    return {
      address,
      token: { address: token.address, symbol, balance: balance.toString() },
      stakes,
      claims: claims.map((c) => ({ epoch: c.epoch, amount: c.amount, claimed: c.claimed })),
    };
  }
}
