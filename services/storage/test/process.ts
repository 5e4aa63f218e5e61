import { spawnService, type ServiceProcess } from '@clopen/testing';

export { freePort, type ServiceProcess } from '@clopen/testing';

/** Runs the storage service's real main.ts in its own process, and waits until /ready answers. */
export function spawnStorage(env: Record<string, string>, { built = false } = {}): Promise<ServiceProcess> {
  return spawnService('storage', env, { built });
}
