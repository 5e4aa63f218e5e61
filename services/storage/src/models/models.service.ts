import { Injectable } from '@nestjs/common';
import { Outbox } from '@clopen/bus';
import { create, storageV1 } from '@clopen/proto';
import { InvalidArgument, PRINCIPAL_ID, PRINCIPAL_ID_RULE, type Principal } from '@clopen/service-kit';
import { DataSource, QueryFailedError } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import { ModelNameTaken, ModelNotFound, NotModelOwner } from '../storage.errors';
import { Model } from './model.entity';
import { toModelMessage } from './models.events';

export interface RegisterModel {
  name: string;
  description?: string;
  /** Admins may register on behalf of an owner; owners always register for themselves. */
  ownerId?: string;
}

const MODEL_NAME = /^[a-z0-9][a-z0-9._-]{0,99}$/;

@Injectable()
export class ModelsService {
  constructor(private readonly db: DataSource, private readonly outbox: Outbox) {}

  async register(principal: Principal, input: RegisterModel): Promise<Model> {
    if (typeof input?.name !== 'string' || !MODEL_NAME.test(input.name)) {
      throw new InvalidArgument('name must be 1-100 characters: lower-case letters, digits, ".", "_" or "-", starting with a letter or digit');
    }
    if (input.description !== undefined && (typeof input.description !== 'string' || input.description.length > 4000)) {
      throw new InvalidArgument('description must be a string of at most 4000 characters');
    }
    let ownerId = principal.id;
    if (input.ownerId !== undefined && input.ownerId !== principal.id) {
      if (!principal.roles.includes('admin')) throw new InvalidArgument('only an admin may register a model for another owner');
      if (typeof input.ownerId !== 'string' || !PRINCIPAL_ID.test(input.ownerId)) throw new InvalidArgument(`ownerId: ${PRINCIPAL_ID_RULE}`);
      ownerId = input.ownerId;
    }
    const model = Object.assign(new Model(), { id: uuidv7(), name: input.name, ownerId, description: input.description ?? '', createdAt: new Date() });
    try {
      await this.db.transaction(async (manager) => {
        await manager.insert(Model, model);
        await this.outbox.enqueue(manager, 'storage.model.registered', create(storageV1.ModelRegisteredSchema, { model: toModelMessage(model) }));
      });
    } catch (e) {
      if (e instanceof QueryFailedError && (e as any).code === '23505') throw new ModelNameTaken(ownerId, input.name);
      throw e;
    }
    return model;
  }

  async get(id: string): Promise<Model> {
    const model = isUuid(id) ? await this.db.getRepository(Model).findOneBy({ id }) : null;
    if (!model) throw new ModelNotFound(id);
    return model;
  }

  list(filter: { ownerId?: string; limit?: number; after?: string }): Promise<Model[]> {
    const qb = this.db.getRepository(Model).createQueryBuilder('m').orderBy('m.id', 'ASC').limit(Math.min(Math.max(filter.limit ?? 100, 1), 500));
    if (filter.ownerId) qb.andWhere('m.owner_id = :owner', { owner: filter.ownerId });
    if (filter.after !== undefined) {
      if (!isUuid(filter.after)) throw new InvalidArgument(`after must be the id (a uuid) of the last model of the previous page, not ${JSON.stringify(filter.after.slice(0, 64))}`);
      qb.andWhere('m.id > :after', { after: filter.after });
    }
    return qb.getMany();
  }

  /** The model, if `principal` may change it (its owner, or an admin). */
  async getForChange(principal: Principal, id: string): Promise<Model> {
    const model = await this.get(id);
    if (model.ownerId !== principal.id && !principal.roles.includes('admin')) throw new NotModelOwner(id);
    return model;
  }
}

export const isUuid = (s: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);
