import { Body, Controller, Get, Param, Post, Put, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiExtension, ApiOperation, ApiTags } from '@nestjs/swagger';
import { DataSource } from 'typeorm';
import { CurrentPrincipal, Roles, ZodResponse, parseInput, type Principal } from '@clopen/service-kit';
import { BalancesService } from '../balances/balances.service';
import { EpochsService } from '../epochs/epochs.service';
import { AuditLog } from '../governance/audit-log';
import { GovernanceService } from '../governance/governance.service';
import { ArtefactLinks } from '@clopen/model-links';
import { SlashesService } from '../slashes/slashes.service';
import { TransactionsService } from '../transactions/transactions.service';
import {
  AddressParam,
  AllocationRetryDto,
  AuditRecordDto,
  BalanceDto,
  ClaimDto,
  EpochDetailDto,
  EpochDto,
  EpochParam,
  GovernanceChangeBody,
  GovernanceChangedDto,
  GovernanceDto,
  ListAuditQuery,
  ListEpochsQuery,
  ListSlashesQuery,
  ListTransactionsQuery,
  ModelLinkDto,
  ResolveSlashBody,
  SlashDto,
  SlashResolvingDto,
  TransactionDto,
  TransactionSummaryDto,
} from './settlement.contracts';

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
  @ZodResponse({ status: 200, type: BalanceDto })
  balance(@Param('address') address: string) {
    return this.balances.of(parseInput(AddressParam, address, 'address'));
  }

  @Get('claims/:address')
  @Roles('owner', 'host', 'prover', 'user')
  @ApiOperation({ summary: 'What an account may claim per epoch, with the Merkle proof RewardsVault.claim takes' })
  @ZodResponse({ status: 200, type: [ClaimDto] })
  claims(@Param('address') address: string) {
    return this.epochs.claims(parseInput(AddressParam, address, 'address'));
  }

  @Get('epochs')
  @Roles('admin')
  @ApiOperation({ summary: 'Settled epochs: usage and assignment roots on chain, fee allocation' })
  @ZodResponse({ status: 200, type: [EpochDto] })
  listEpochs(@Query() query: ListEpochsQuery) {
    return this.epochs.list(query.limit);
  }

  @Get('epochs/:epoch')
  @Roles('admin')
  @ApiOperation({ summary: 'One epoch with its allocation, account by account' })
  @ZodResponse({ status: 200, type: EpochDetailDto })
  epoch(@Param('epoch') epoch: string) {
    return this.epochs.get(parseInput(EpochParam, epoch, 'epoch'));
  }

  @Get('slashes')
  @Roles('admin')
  @ApiOperation({ summary: 'Slashes, newest first: ?status=&host=' })
  @ZodResponse({ status: 200, type: [SlashDto] })
  listSlashes(@Query() query: ListSlashesQuery) {
    return this.slashes.list({ status: query.status, host: query.host }, query.limit);
  }

  @Get('slashes/:id')
  @Roles('admin')
  @ApiOperation({ summary: 'One slash, by its id or its violation id' })
  @ZodResponse({ status: 200, type: SlashDto })
  slash(@Param('id') id: string) {
    return this.slashes.get(id);
  }

  @Get('transactions')
  @Roles('admin')
  @ApiOperation({ summary: 'Protocol transactions, newest first: ?status=queued|sent|confirmed|reverted|failed' })
  @ZodResponse({ status: 200, type: [TransactionSummaryDto] })
  listTransactions(@Query() query: ListTransactionsQuery) {
    return this.transactions.list(query.status, query.limit);
  }

  @Get('transactions/:id')
  @Roles('admin')
  @ApiOperation({ summary: 'One protocol transaction, by id or purpose (e.g. usage-root:7)' })
  @ZodResponse({ status: 200, type: TransactionDto })
  transaction(@Param('id') id: string) {
    return this.transactions.get(id);
  }

  @Get('models')
  @Roles('admin')
  @ApiOperation({ summary: 'Platform models linked to chain models by their committed artefact hash' })
  @ZodResponse({ status: 200, type: [ModelLinkDto] })
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
  @ZodResponse({ status: 200, type: GovernanceDto })
  current() {
    return this.governance.current();
  }

  @Put('governance')
  @Roles('admin')
  @ApiOperation({ summary: 'Change governance parameters: chain ones by protocol transaction (needs GOVERNANCE_ROLE), audited' })
  @ZodResponse({ status: 200, type: GovernanceChangedDto })
  change(@CurrentPrincipal() principal: Principal, @Body() body: GovernanceChangeBody) {
    return this.governance.change(principal, body);
  }

  @Post('slashes/:id/resolve')
  @Roles('admin')
  @ApiOperation({ summary: 'Resolve an appealed slash: { uphold, reason }; upheld executes, dismissed returns the stake' })
  @ZodResponse({ status: 202, type: SlashResolvingDto })
  resolve(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Body() body: ResolveSlashBody) {
    const { uphold, reason } = body;
    return this.db.transaction(async (manager) => {
      const change = await this.slashes.resolve(manager, id, uphold);
      await this.audit.record(manager, principal, {
        action: 'slash.resolve',
        target: `slash:${id}`,
        before: change.before,
        after: { ...change.after, reason },
      });
      return { id, status: 'resolving' as const, uphold };
    });
  }

  @Post('epochs/:epoch/allocation/retry')
  @Roles('admin')
  @ApiOperation({ summary: "Retry a failed epoch's fee allocation" })
  @ApiExtension('x-clopen-no-body', true)
  @ZodResponse({ status: 202, type: AllocationRetryDto })
  retry(@CurrentPrincipal() principal: Principal, @Param('epoch') epoch: string) {
    const e = parseInput(EpochParam, epoch, 'epoch');
    return this.db.transaction(async (manager) => {
      await this.epochs.retryAllocation(e, manager);
      await this.audit.record(manager, principal, { action: 'allocation.retry', target: `epoch:${e}` });
      return { epoch: e, allocationStatus: 'pending' as const };
    });
  }

  @Get('audit')
  @Roles('admin')
  @ApiOperation({ summary: 'The audit log of admin changes, newest first: ?action=&target=' })
  @ZodResponse({ status: 200, type: [AuditRecordDto] })
  auditLog(@Query() query: ListAuditQuery) {
    return this.audit.list({ action: query.action, target: query.target }, query.limit);
  }
}
