import { Injectable } from '@nestjs/common';
import { Outbox } from '@clopen/bus';
import { create, storageV1 } from '@clopen/proto';
import { InvalidArgument, type Principal } from '@clopen/service-kit';
import { DataSource, QueryFailedError } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import { ModelNameTaken, ModelNotFound, NotModelOwner } from '../storage.errors';
import { Model } from './model.entity';
import type { RegisterModel } from './models.contracts';
import { toModelMessage } from './models.events';

@Injectable()
export class ModelsService {
  constructor(
    private readonly db: DataSource,
    private readonly outbox: Outbox,
  ) {}

  /** Admins may register on behalf of an owner; owners always register for themselves. */
  async register(principal: Principal, input: RegisterModel): Promise<Model> {
    let ownerId = principal.id;
    if (input.ownerId !== undefined && input.ownerId !== principal.id) {
      if (!principal.roles.includes('admin')) throw new InvalidArgument('only an admin may register a model for another owner');
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
    const qb = this.db
      .getRepository(Model)
      .createQueryBuilder('m')
      .orderBy('m.id', 'ASC')
      .limit(Math.min(Math.max(filter.limit ?? 100, 1), 500));
    if (filter.ownerId) qb.andWhere('m.owner_id = :owner', { owner: filter.ownerId });
    if (filter.after !== undefined) qb.andWhere('m.id > :after', { after: filter.after });
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
