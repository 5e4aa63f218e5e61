import { randomUUID } from 'node:crypto';
import { Injectable, OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { GOVERNANCE_ROLE, PROTOCOL_ROLE } from '@clopen/contracts';
import { Forbidden, type Principal } from '@clopen/service-kit';
import { ProtocolChain } from '../chain/protocol-chain';
import type { GovernanceChange } from '../settlement/settlement.contracts';
import { TransactionsService, type ProtocolCall } from '../transactions/transactions.service';
import { AuditLog } from './audit-log';
import { GovernanceParams } from './governance-params';

/**
 * Governance parameters: the fee shares (RewardsVault), appeal window, unstake delay and prover
 * bounty (HostCollateral) live on chain and change by transaction; confirmations and the slash
 * size are this service's. Every change is audited with the transactions it queued.
 */
@Injectable()
export class GovernanceService implements OnModuleInit {
  constructor(
    private readonly db: DataSource,
    private readonly chain: ProtocolChain,
    private readonly params: GovernanceParams,
    private readonly transactions: TransactionsService,
    private readonly audit: AuditLog,
  ) {}

  onModuleInit() {
    // The chain's value is read back on every GET; nothing local follows a governance transaction.
    this.transactions.onSettled('governance', async () => undefined);
  }

  async current() {
    const { hostCollateral, rewardsVault } = await this.chain.contracts();
    const protocol = this.chain.account.address;
    const [shares, appealWindow, unstakeDelay, proverBountyBps, local, collateralGov, vaultGov, collateralProtocol, vaultProtocol] = await Promise.all([
      rewardsVault.read.shares(),
      hostCollateral.read.appealWindow(),
      hostCollateral.read.unstakeDelay(),
      hostCollateral.read.proverBountyBps(),
      this.params.get(),
      hostCollateral.read.hasRole([GOVERNANCE_ROLE, protocol]),
      rewardsVault.read.hasRole([GOVERNANCE_ROLE, protocol]),
      hostCollateral.read.hasRole([PROTOCOL_ROLE, protocol]),
      rewardsVault.read.hasRole([PROTOCOL_ROLE, protocol]),
    ]);
    return {
      shares: { ownerBps: shares.ownerBps, hostBps: shares.hostBps, proverBps: shares.proverBps, protocolBps: shares.protocolBps },
      appealWindowSeconds: Number(appealWindow),
      unstakeDelaySeconds: Number(unstakeDelay),
      proverBountyBps,
      confirmations: local.confirmations,
      slashBps: local.slashBps,
      protocolAddress: protocol,
      treasuryAddress: this.chain.treasury,
      roles: { protocol: collateralProtocol && vaultProtocol, governance: collateralGov && vaultGov },
    };
  }

  async change(principal: Principal, change: GovernanceChange) {
    const before = await this.current();
    const calls: [string, ProtocolCall][] = [];
    if (change.shares) calls.push(['shares', { contract: 'RewardsVault', functionName: 'setShares', args: [change.shares] }]);
    if (change.appealWindowSeconds !== undefined)
      calls.push(['appealWindowSeconds', { contract: 'HostCollateral', functionName: 'setAppealWindow', args: [BigInt(change.appealWindowSeconds)] }]);
    if (change.unstakeDelaySeconds !== undefined)
      calls.push(['unstakeDelaySeconds', { contract: 'HostCollateral', functionName: 'setUnstakeDelay', args: [BigInt(change.unstakeDelaySeconds)] }]);
    if (change.proverBountyBps !== undefined)
      calls.push(['proverBountyBps', { contract: 'HostCollateral', functionName: 'setProverBountyBps', args: [change.proverBountyBps] }]);
    if (calls.length && !before.roles.governance) {
      throw new Forbidden(
        `the protocol key ${before.protocolAddress} lacks GOVERNANCE_ROLE on HostCollateral and RewardsVault: grant it, or change ${calls.map(([k]) => k).join(', ')} with the governance key`,
      );
    }
    return this.db.transaction(async (manager) => {
      await this.params.set(manager, { confirmations: change.confirmations, slashBps: change.slashBps });
      const id = randomUUID();
      const ids: string[] = [];
      for (const [key, call] of calls) {
        const purpose = `governance:${id}:${key}`;
        await this.transactions.enqueue(manager, purpose, call);
        ids.push((await manager.query('SELECT id FROM protocol_transactions WHERE purpose = $1', [purpose]))[0].id);
      }
      await this.audit.record(manager, principal, { action: 'governance.change', target: 'governance', before, after: change, transactionIds: ids });
      return { queuedTransactions: ids, applied: { confirmations: change.confirmations, slashBps: change.slashBps } };
    });
  }
}
