import { distributionV1, timestampFromDate } from '@clopen/proto';
import type { Licence } from './licence.entity';

export function toLicenceMessage(l: Licence) {
  return {
    id: l.id,
    modelId: l.modelId,
    versionId: l.versionId,
    hostAddress: l.hostAddress,
    origin: l.origin === 'chain' ? distributionV1.LicenceOrigin.CHAIN : distributionV1.LicenceOrigin.ADMIN,
    createdAt: timestampFromDate(l.createdAt),
  };
}
