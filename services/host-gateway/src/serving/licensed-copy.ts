import { existsSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalAccount } from 'viem/accounts';
import { HOST_AUTH_HEADER, signHostRequest } from '@clopen/host-auth';
import { downloadChecked, sha256File } from '@clopen/storage-client';

interface Delivery {
  copyVersionId: string;
  files: { path: string; size: number; sha256: string; url: string }[];
}

/**
 * Fetches this host's own OML copy from distribution (a request signed by the host key, answered
 * with short-lived URLs) into `dir`; files already there with the right sha256 are kept, so a
 * restart downloads nothing. Returns the copy's version id.
 */
export async function fetchLicensedCopy(options: {
  distributionUrl: string;
  licenceId: string;
  account: LocalAccount;
  dir: string;
  log: (m: string) => void;
}): Promise<string> {
  const { distributionUrl, licenceId, account, dir, log } = options;
  const path = `/host/licences/${licenceId}/copy`;
  const auth = await signHostRequest(account, { audience: 'distribution', method: 'GET', path, body: '' });
  const res = await fetch(`${distributionUrl}${path}`, { headers: { [HOST_AUTH_HEADER]: auth }, signal: AbortSignal.timeout(30_000) });
  if (!res.ok) throw new Error(`distribution refused the copy of licence ${licenceId}: ${res.status} ${await res.text()}`);
  const delivery = (await res.json()) as Delivery;
  await mkdir(dir, { recursive: true });
  for (const file of delivery.files) {
    const target = join(dir, file.path);
    if (existsSync(target) && (await stat(target)).size === file.size && (await sha256File(target)) === file.sha256) continue;
    log(`downloading ${file.path} of copy ${delivery.copyVersionId} (${file.size} bytes)`);
    await downloadChecked(file.url, file, dir, `copy ${delivery.copyVersionId}`);
  }
  return delivery.copyVersionId;
}
