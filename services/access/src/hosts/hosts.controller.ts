import { Body, Controller, Get, Inject, Post, Query } from '@nestjs/common';
import { ApiExtension, ApiOperation, ApiTags } from '@nestjs/swagger';
import { DataSource } from 'typeorm';
import { HOST_SESSION_HEADER } from '@clopen/host-auth';
import { Conflict, CurrentHost, Forbidden, HOST_AUTH, HostSigned, ZodResponse, type HostAuthOptions } from '@clopen/service-kit';
import { holdsActiveLicence } from '../licences/licence-projection';
import { HostLicenceDto, HostSessionDto, ListRejectionsQuery, RegisterServingKeyBody, ServingKeyDto, UsageRejectionDto } from './hosts.contracts';
import { ServingKey } from './serving-key.entity';

/** A host registers the ed25519 keys it signs receipts with, proving its EVM address by signature; only a licensed host may. */
@ApiTags('hosts')
@HostSigned('host', 'access')
@Controller('hosts/serving-keys')
export class HostsController {
  constructor(private readonly db: DataSource) {}

  @Post()
  @ApiOperation({ summary: 'Register a serving key (the same key again answers it as registered)' })
  @ZodResponse({ status: 201, type: ServingKeyDto })
  async register(@CurrentHost() host: string, @Body() input: RegisterServingKeyBody) {
    if (!(await holdsActiveLicence(this.db, host, input.modelId ?? null)))
      throw new Forbidden(
        `host ${host} holds no active licence${input.modelId ? ` for model ${input.modelId}` : ''}; stake on the model (or ask its owner for a licence) before registering a serving key`,
      );
    const repo = this.db.getRepository(ServingKey);
    const existing = await repo.findOneBy({ hostAddress: host, keyId: input.keyId });
    if (existing && existing.publicKey !== input.publicKey)
      throw new Conflict(`host ${host} already registered key "${input.keyId}" with another public key; use a new key id`);
    return existing ?? repo.save(repo.create({ hostAddress: host, keyId: input.keyId, publicKey: input.publicKey }));
  }

  @Get()
  @ZodResponse({ status: 200, type: [ServingKeyDto] })
  list(@CurrentHost() host: string) {
    return this.db.getRepository(ServingKey).findBy({ hostAddress: host });
  }
}

/** What the host sent that was not counted, and why: the same records `access.usage.rejected` carries. */
@ApiTags('hosts')
@HostSigned('host', 'access', { sessions: true })
@Controller('hosts/usage-rejections')
export class HostRejectionsController {
  constructor(private readonly db: DataSource) {}

  @Get()
  @ApiOperation({ summary: "This host's refused receipts, oldest first; page with ?after=<last id>" })
  @ZodResponse({ status: 200, type: [UsageRejectionDto] })
  async list(@CurrentHost() host: string, @Query() q: ListRejectionsQuery) {
    const rows: { id: string; grant_id: string; counter: string; reason: string; message: string; partner: string | null; rejected_at: Date }[] =
      await this.db.query(
        `SELECT id, grant_id, counter, reason, message, partner, rejected_at FROM usage_rejections
       WHERE lower(host_address) = lower($1) AND id > $2 AND ($3::text IS NULL OR reason = $3) ORDER BY id LIMIT $4`,
        [host, q.after ?? 0, q.reason ?? null, q.limit],
      );
    return rows.map((r) => ({
      id: Number(r.id),
      grantId: r.grant_id,
      counter: r.counter,
      reason: r.reason,
      message: r.message,
      partner: r.partner,
      rejectedAt: r.rejected_at,
    }));
  }
}

/** The licences access knows this host holds or held (from distribution's events): what a gateway checks before serving. */
@ApiTags('hosts')
@HostSigned('host', 'access', { sessions: true })
@Controller('hosts/licences')
export class HostLicencesController {
  constructor(private readonly db: DataSource) {}

  @Get()
  @ApiOperation({ summary: "This host's licences, newest first" })
  @ZodResponse({ status: 200, type: [HostLicenceDto] })
  async list(@CurrentHost() host: string) {
    const rows: { id: string; model_id: string; version_id: string; granted_at: Date; ended_at: Date | null; end_reason: string | null }[] =
      await this.db.query(
        'SELECT id, model_id, version_id, granted_at, ended_at, end_reason FROM host_licences WHERE lower(host_address) = lower($1) ORDER BY granted_at DESC LIMIT 1000',
        [host],
      );
    return rows.map((r) => ({
      id: r.id,
      modelId: r.model_id,
      versionId: r.version_id,
      grantedAt: r.granted_at,
      endedAt: r.ended_at,
      endReason: r.end_reason,
      active: r.ended_at === null,
    }));
  }
}

/**
 * A host proves its EVM key once (a signed request) and gets a short-lived token for its frequent
 * calls (quota leases, licence and rejection reads), each then checked by an HMAC instead of a
 * signature recovery: what keeps a gateway's first request on a grant fast.
 */
@ApiTags('hosts')
@HostSigned('host', 'access')
@Controller('hosts/sessions')
export class HostSessionsController {
  constructor(@Inject(HOST_AUTH) private readonly auth: HostAuthOptions) {}

  @Post()
  @ApiOperation({ summary: `A host session token; send it as ${HOST_SESSION_HEADER} to the routes that take one, and get a new one before it expires` })
  @ApiExtension('x-clopen-no-body', true)
  @ZodResponse({ status: 201, type: HostSessionDto })
  open(@CurrentHost() host: string) {
    const session = this.auth.sessions!.issue(host);
    return { token: session.token, expiresAt: session.expiresAt };
  }
}
