import { Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { BalancesService } from './balances/balances.service';
import { ProtocolChain } from './chain/protocol-chain';
import { EpochsService } from './epochs/epochs.service';
import { AuditLog } from './governance/audit-log';
import { GovernanceParams } from './governance/governance-params';
import { GovernanceService } from './governance/governance.service';
import { ArtefactLinks } from '@clopen/model-links';
import { GovernanceController, SettlementController } from './settlement/settlement.controller';
import { SettlementLoop } from './settlement/settlement.loop';
import { SlashesService } from './slashes/slashes.service';
import { TransactionsService } from './transactions/transactions.service';

@Module({
  controllers: [SettlementController, GovernanceController],
  providers: [
    ProtocolChain,
    GovernanceParams,
    AuditLog,
    TransactionsService,
    { provide: ArtefactLinks, inject: [DataSource], useFactory: (db: DataSource) => new ArtefactLinks(db) },
    EpochsService,
    SlashesService,
    GovernanceService,
    BalancesService,
    SettlementLoop,
  ],
})
export class IncentivesModule {}
