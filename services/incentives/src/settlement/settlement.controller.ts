import { Body, Controller, Get, HttpCode, Param, Post, Put, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { DataSource } from 'typeorm';
import { getAddress, isAddress } from 'viem';
import { z } from 'zod';
import { CurrentPrincipal, Roles, parseInput, type Principal } from '@clopen/service-kit';
import { BalancesService } from '../balances/balances.service';
import { EpochsService } from '../epochs/epochs.service';
import { AuditLog } from '../governance/audit-log';
import { GovernanceChange, GovernanceService } from '../governance/governance.service';
import { ArtefactLinks } from '@clopen/model-links';
import { SlashesService } from '../slashes/slashes.service';
import { TransactionsService } from '../transactions/transactions.service';

const Address = z.string().refine((v) => isAddress(v), { message: 'must be an EVM address' }).transform((v) => getAddress(v));
const Limit = z.coerce.number().int().min(1).max(1000);
/** ?limit=, 100 when absent. */
const limitOf = (limit?: string) => parseInput(Limit, limit ?? '100', 'limit');
const Resolve = z.object({ uphold: z.boolean(), reason: z.string().min(1).max(2000) }).strict();

@ApiTags('settlement')
@ApiBearerAuth()
@Controller()
export class SettlementController {
  constructor(
    private readonly epochs: EpochsService,
    private readonly slashes: SlashesService,
    private readonly transactions: TransactionsService,
    private readonly links: ArtefactLinks,
    private readonly balances: BalancesService,
  ) {}

  @Get('balances/:address')
  @Roles('owner', 'host', 'prover', 'user')
  @ApiOperation({ summary: "An account's token balance, stakes per chain model and claims per epoch" })
  balance(@Param('address') address: string) {
    return this.balances.of(parseInput(Address, address, 'address'));
  }

  @Get('claims/:address')
  @Roles('owner', 'host', 'prover', 'user')
  @ApiOperation({ summary: 'What an account may claim per epoch, with the Merkle proof RewardsVault.claim takes' })
  claims(@Param('address') address: string) {
    return this.epochs.claims(parseInput(Address, address, 'address'));
  }

  @Get('epochs')
  @Roles('admin')
  @ApiOperation({ summary: 'Settled epochs: usage and assignment roots on chain, fee allocation' })
  listEpochs(@Query('limit') limit?: string) {
    return this.epochs.list(limitOf(limit));
  }

  @Get('epochs/:epoch')
  @Roles('admin')
  @ApiOperation({ summary: 'One epoch with its allocation, account by account' })
  epoch(@Param('epoch') epoch: string) {
    return this.epochs.get(parseInput(z.string().regex(/^\d+$/, 'must be an epoch number'), epoch, 'epoch'));
  }

  @Get('slashes')
  @Roles('admin')
  @ApiOperation({ summary: 'Slashes, newest first: ?status=&host=' })
  listSlashes(@Query('status') status?: string, @Query('host') host?: string, @Query('limit') limit?: string) {
    return this.slashes.list({ status, host }, limitOf(limit));
  }

  @Get('slashes/:id')
  @Roles('admin')
  @ApiOperation({ summary: 'One slash, by its id or its violation id' })
  slash(@Param('id') id: string) {
    return this.slashes.get(id);
  }

  @Get('transactions')
  @Roles('admin')
  @ApiOperation({ summary: 'Protocol transactions, newest first: ?status=queued|sent|confirmed|reverted|failed' })
  listTransactions(@Query('status') status?: string, @Query('limit') limit?: string) {
    return this.transactions.list(status, limitOf(limit));
  }

  @Get('transactions/:id')
  @Roles('admin')
  @ApiOperation({ summary: 'One protocol transaction, by id or purpose (e.g. usage-root:7)' })
  transaction(@Param('id') id: string) {
    return this.transactions.get(id);
  }

  @Get('models')
  @Roles('admin')
  @ApiOperation({ summary: 'Platform models linked to chain models by their committed artefact hash' })
  models() {
    return this.links.list();
  }
}

@ApiTags('governance')
@ApiBearerAuth()
@Controller()
export class GovernanceController {
  constructor(
    private readonly db: DataSource,
    private readonly governance: GovernanceService,
    private readonly slashes: SlashesService,
    private readonly epochs: EpochsService,
    private readonly audit: AuditLog,
  ) {}

  @Get('governance')
  @Roles('admin')
  @ApiOperation({ summary: 'Fee shares, appeal window, unstake delay, prover bounty (chain); confirmations and slash size (this service)' })
  current() {
    return this.governance.current();
  }

  @Put('governance')
  @Roles('admin')
  @ApiOperation({ summary: 'Change governance parameters: chain ones by protocol transaction (needs GOVERNANCE_ROLE), audited' })
  change(@CurrentPrincipal() principal: Principal, @Body() body: unknown) {
    return this.governance.change(principal, parseInput(GovernanceChange, body));
  }

  @Post('slashes/:id/resolve')
  @HttpCode(202)
  @Roles('admin')
  @ApiOperation({ summary: 'Resolve an appealed slash: { uphold, reason }; upheld executes, dismissed returns the stake' })
  resolve(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Body() body: unknown) {
    const { uphold, reason } = parseInput(Resolve, body);
    return this.db.transaction(async (manager) => {
      const change = await this.slashes.resolve(manager, id, uphold);
      await this.audit.record(manager, principal, { action: 'slash.resolve', target: `slash:${id}`, before: change.before, after: { ...(change.after as object), reason } });
      return { id, status: 'resolving', uphold };
    });
  }

  @Post('epochs/:epoch/allocation/retry')
  @HttpCode(202)
  @Roles('admin')
  @ApiOperation({ summary: "Retry a failed epoch's fee allocation" })
  retry(@CurrentPrincipal() principal: Principal, @Param('epoch') epoch: string) {
    const e = parseInput(z.string().regex(/^\d+$/, 'must be an epoch number'), epoch, 'epoch');
    return this.db.transaction(async (manager) => {
      await this.epochs.retryAllocation(e, manager);
      await this.audit.record(manager, principal, { action: 'allocation.retry', target: `epoch:${e}` });
      return { epoch: e, allocationStatus: 'pending' };
    });
  }

  @Get('audit')
  @Roles('admin')
  @ApiOperation({ summary: 'The audit log of admin changes, newest first: ?action=&target=' })
  auditLog(@Query('action') action?: string, @Query('target') target?: string, @Query('limit') limit?: string) {
    return this.audit.list({ action, target }, limitOf(limit));
  }
}
