import { Inject, Injectable } from '@nestjs/common';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { DataSource, IsNull } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import { InvalidArgument, NotFound, Unavailable } from '../errors';
import { ApiKey } from './api-key.entity';
import { ROLES, type Principal, type Role } from './roles';

export const KIT_OPTIONS = Symbol('clopen:service-kit-options');
export interface ApiKeyOptions {
  /** The bootstrap admin key from ADMIN_API_KEY; it is never stored. */
  adminApiKey: string;
  /** Absent in a service without a database: only the bootstrap admin key authenticates there. */
  dataSource?: DataSource;
}

const hash = (key: string) => createHash('sha256').update(key, 'utf8').digest();

export interface IssuedApiKey {
  id: string;
  principalId: string;
  roles: Role[];
  label: string;
  /** Shown once; only its hash is kept. */
  key: string;
}

@Injectable()
export class ApiKeysService {
  private readonly adminHash: Buffer;

  constructor(@Inject(KIT_OPTIONS) private readonly opts: ApiKeyOptions) {
    this.adminHash = hash(opts.adminApiKey);
  }

  private get repo() {
    if (!this.opts.dataSource) throw new Unavailable('this service keeps no API keys (it runs without a database); use the admin key from ADMIN_API_KEY');
    return this.opts.dataSource.getRepository(ApiKey);
  }

  async issue(principalId: string, roles: Role[], label = ''): Promise<IssuedApiKey> {
    if (!/^[A-Za-z0-9._:@-]{1,128}$/.test(principalId)) throw new InvalidArgument('principalId must be 1-128 characters of letters, digits and ._:@-');
    const unknown = roles.filter((r) => !ROLES.includes(r));
    if (!roles.length || unknown.length) throw new InvalidArgument(`roles must be a non-empty subset of ${ROLES.join(', ')}; got ${JSON.stringify(roles)}`);
    const id = uuidv7();
    const key = `clp_${randomBytes(24).toString('base64url')}`;
    await this.repo.insert({ id, principalId, roles: [...new Set(roles)], keyHash: hash(key), label, revokedAt: null });
    return { id, principalId, roles, label, key };
  }

  async list(): Promise<Omit<ApiKey, 'keyHash'>[]> {
    const keys = await this.repo.find({ order: { createdAt: 'ASC' } });
    return keys.map(({ keyHash: _omit, ...rest }) => rest);
  }

  async revoke(id: string): Promise<void> {
    const result = await this.repo.update({ id, revokedAt: IsNull() }, { revokedAt: new Date() });
    if (!result.affected) throw new NotFound(`no active API key ${id}`);
  }

  /** The principal of a presented key, or null when it is unknown or revoked. */
  async authenticate(key: string): Promise<Principal | null> {
    const h = hash(key);
    if (timingSafeEqual(h, this.adminHash)) return { id: 'admin', roles: ['admin'], keyId: 'bootstrap' };
    if (!this.opts.dataSource) return null;
    const found = await this.repo.findOne({ where: { keyHash: h, revokedAt: IsNull() } });
    return found ? { id: found.principalId, roles: found.roles, keyId: found.id } : null;
  }
}
