import { readEvents } from '@clopen/bus';
import { eventually } from '@clopen/testing';
import { ADMIN_KEY, StorageHarness, api } from './harness';
import { spawnStorage, type ServiceProcess } from './process';

/**
 * A state change and its event leave together even when the process dies between the commit
 * and the publish: the outbox row survives and the next process relays it, exactly once.
 */
describe('storage killed between commit and publish', () => {
  let h: StorageHarness;
  let proc: ServiceProcess | undefined;

  beforeAll(async () => {
    h = await StorageHarness.start();
  });

  afterAll(async () => {
    await proc?.kill();
    await h?.stop();
  });

  it('still delivers the event, once', async () => {
    // The first process commits but never relays (as if killed right after the commit).
    proc = await spawnStorage(h.env({ OUTBOX_RELAY_ENABLED: 'false', HTTP_PORT: '0' }));
    const key = (await api(proc.url, ADMIN_KEY, 'POST', '/api-keys', { principalId: 'alice', roles: ['owner'] })).body.key;
    const res = await api(proc.url, key, 'POST', '/models', { name: 'survivor' });
    expect(res.status).toBe(201);
    await new Promise((r) => setTimeout(r, 500));
    expect(await readEvents(h.bus, 'storage.model.registered')).toHaveLength(0);
    await proc.kill();

    // A fresh process relays what the dead one committed.
    proc = await spawnStorage(h.env({ HTTP_PORT: '0' }));
    const events = await eventually(async () => {
      const all = await readEvents(h.bus, 'storage.model.registered');
      return all.length ? all : undefined;
    });
    expect(events[0].payload.model?.id).toBe(res.body.id);

    // And a second restart does not publish it again.
    await proc.kill();
    proc = await spawnStorage(h.env({ HTTP_PORT: '0' }));
    await new Promise((r) => setTimeout(r, 1000));
    expect(await readEvents(h.bus, 'storage.model.registered')).toHaveLength(1);
  });
});
