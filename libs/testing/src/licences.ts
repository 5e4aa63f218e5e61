import { randomUUID } from 'node:crypto';
import { distributionV1, timestampFromDate } from '@clopen/proto';

/** What publishing a licence event needs of a bus (libs/bus's Bus). */
interface Publisher {
  publish(subject: 'distribution.licence.granted' | 'distribution.licence.ended', payload: object): Promise<unknown>;
}

export type TestLicence = {
  id: string;
  modelId: string;
  versionId: string;
  hostAddress: string;
  origin: distributionV1.LicenceOrigin;
  createdAt: ReturnType<typeof timestampFromDate>;
};

/**
 * Distribution's licence events as the access service consumes them, published by a test that
 * plays distribution: the host is licensed for the model from `grantedAt` on.
 */
export async function licenseHost(bus: Publisher, hostAddress: string, modelId: string, grantedAt = new Date(Date.now() - 60_000)): Promise<TestLicence> {
  const licence = {
    id: randomUUID(),
    modelId,
    versionId: randomUUID(),
    hostAddress,
    origin: distributionV1.LicenceOrigin.ADMIN,
    createdAt: timestampFromDate(grantedAt),
  };
  await bus.publish('distribution.licence.granted', { licence });
  return licence;
}

/** The licence ends at `endedAt`, as a slash, an unstake or an admin would end it. */
export async function endLicence(bus: Publisher, licence: TestLicence, reason: string, endedAt = new Date()): Promise<void> {
  await bus.publish('distribution.licence.ended', { licence, reason, endedAt: timestampFromDate(endedAt) });
}
