import { randomUUID } from 'node:crypto';
import type { Bus } from '@clopen/bus';
import { distributionV1, timestampFromDate } from '@clopen/proto';

/**
 * Distribution's licence events as the access service consumes them, published by a test that
 * plays distribution: the host is licensed for the model from `grantedAt` on.
 */
export async function licenseHost(bus: Bus, hostAddress: string, modelId: string, grantedAt = new Date(Date.now() - 60_000)) {
  const licence = { id: randomUUID(), modelId, versionId: randomUUID(), hostAddress, origin: distributionV1.LicenceOrigin.ADMIN, createdAt: timestampFromDate(grantedAt) };
  await bus.publish('distribution.licence.granted', { licence });
  return licence;
}

export async function endLicence(bus: Bus, licence: Awaited<ReturnType<typeof licenseHost>>, reason: string, endedAt = new Date()) {
  await bus.publish('distribution.licence.ended', { licence, reason, endedAt: timestampFromDate(endedAt) });
}
