import { Inject, Injectable } from '@nestjs/common';
import { Bus, BusRequestError } from '@clopen/bus';
import { storageV1 } from '@clopen/proto';
import { CONFIG } from '@clopen/service-kit';
import { StorageClient } from '@clopen/storage-client';
import type { DistributionConfig } from '../distribution.settings';
import { VersionNotFound } from '../distribution.errors';

export interface CatalogueVersion {
  id: string;
  modelId: string;
  label: string;
  kind: storageV1.VersionKind;
  ownerId: string;
  licenceTermsJson: string;
}

/** What distribution needs to know of storage's models and versions, asked over NATS; presigned URLs over storage's REST API. */
@Injectable()
export class Catalogue {
  readonly storage: StorageClient;

  constructor(
    private readonly bus: Bus,
    @Inject(CONFIG) config: DistributionConfig,
  ) {
    this.storage = new StorageClient(config.STORAGE_URL, config.STORAGE_API_KEY);
  }

  async version(id: string): Promise<CatalogueVersion> {
    try {
      const { version } = await this.bus.request('storage.version.get', { id });
      if (!version) throw new VersionNotFound(id);
      const { model } = await this.bus.request('storage.model.get', { id: version.modelId });
      return {
        id: version.id,
        modelId: version.modelId,
        label: version.label,
        kind: version.kind,
        ownerId: model?.ownerId ?? '',
        licenceTermsJson: version.licenceTermsJson,
      };
    } catch (e) {
      if (e instanceof BusRequestError && (e.code === 'not_found' || e.code === 'invalid_argument')) throw new VersionNotFound(id);
      throw e;
    }
  }
}
