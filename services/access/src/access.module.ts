import { Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { HostSessions } from '@clopen/host-auth';
import { CONFIG, HOST_AUTH, HostAuthGuard, type HostAuthOptions } from '@clopen/service-kit';
import type { AccessConfig } from './access.settings';
import { EpochsController } from './epochs/epochs.controller';
import { EpochsService } from './epochs/epochs.service';
import { GrantsController } from './grants/grants.controller';
import { GrantsService } from './grants/grants.service';
import { HostLicencesController, HostRejectionsController, HostSessionsController, HostsController } from './hosts/hosts.controller';
import { PgNonceStore } from './hosts/pg-nonce-store';
import { IssuersController } from './issuers/issuers.controller';
import { LicenceProjection } from './licences/licence-projection';
import { QuotaHandouts, QuotaLeasesController } from './quota/quota-leases';
import { ProverController, ProversController } from './provers/provers.controller';
import { ProversService } from './provers/provers.service';
import { UsageIngestor } from './usage/usage.ingestor';
import { UsageService } from './usage/usage.service';

@Module({
  controllers: [
    GrantsController,
    IssuersController,
    HostsController,
    HostRejectionsController,
    HostLicencesController,
    HostSessionsController,
    QuotaLeasesController,
    EpochsController,
    ProversController,
    ProverController,
  ],
  providers: [
    GrantsService,
    UsageService,
    UsageIngestor,
    LicenceProjection,
    QuotaHandouts,
    ProversService,
    EpochsService,
    HostAuthGuard,
    {
      provide: HOST_AUTH,
      inject: [DataSource, CONFIG],
      useFactory: (db: DataSource, config: AccessConfig): HostAuthOptions => ({
        audience: 'access',
        nonceStore: new PgNonceStore(db),
        maxTtlSeconds: config.HOST_AUTH_MAX_TTL_SECONDS,
        sessions: new HostSessions('access', config.ACCESS_ISSUER_KEYS.sessionKeys(), config.ACCESS_HOST_SESSION_SECONDS),
      }),
    },
  ],
})
export class AccessModule {}
