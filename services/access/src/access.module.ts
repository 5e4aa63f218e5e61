import { Module } from '@nestjs/common';
import { GrantsController } from './grants/grants.controller';
import { GrantsService } from './grants/grants.service';
import { IssuersController } from './issuers/issuers.controller';

@Module({ controllers: [GrantsController, IssuersController], providers: [GrantsService] })
export class AccessModule {}
