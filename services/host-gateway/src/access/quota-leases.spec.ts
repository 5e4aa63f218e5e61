import { QuotaLeases, QuotaRefused, type Granted } from './quota-leases';

/** The lease rules alone, against a ledger in memory standing in for access's grant_leases. */
function ledger(quota: number) {
  let left = quota;
  const calls: string[] = [];
  const leases = new QuotaLeases({
    block: 4,
    tokenBlock: 0,
    recheckMs: 50,
    lease: async (grantId, requests): Promise<Granted> => {
      calls.push(`lease ${grantId} ${requests}`);
      const n = Math.min(requests, left);
      left -= n;
      return { requests: n, tokens: null };
    },
    release: async (grantId, requests) => {
      calls.push(`release ${grantId} ${requests}`);
      left += requests;
    },
  });
  return { leases, calls, left: () => left, give: (n: number) => (left += n) };
}

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => 'granted',
    (e: QuotaRefused) => e.reason,
  );

describe('QuotaLeases', () => {
  it('serves a grant exactly up to what access leased, then refuses at once and asks again in the background, less often while it stays spent', async () => {
    const { leases, calls, give } = ledger(6);
    const outcomes: string[] = [];
    for (let i = 0; i < 8; i += 1) outcomes.push(await refusal(leases.reserve('g', 1)));
    expect(outcomes).toEqual(['granted', 'granted', 'granted', 'granted', 'granted', 'granted', 'over_quota', 'over_quota']);
    const asked = calls.length;
    // Spent: refused with no call until the recheck is due.
    expect(await refusal(leases.reserve('g', 1))).toBe('over_quota');
    expect(calls.length).toBe(asked);
    await new Promise((r) => setTimeout(r, 120));
    give(1); // another host gave one back
    expect(await refusal(leases.reserve('g', 1))).toBe('over_quota'); // refused at once; the recheck goes out
    await new Promise((r) => setTimeout(r, 10));
    expect(await refusal(leases.reserve('g', 1))).toBe('granted');
  });

  it('serves a grant it was handed a block of without asking first', async () => {
    const { leases, calls } = ledger(0); // access has nothing more: what is served came from the block
    leases.offer('g', { requests: 2, tokens: null });
    expect(calls).toEqual([]);
    expect([await refusal(leases.reserve('g', 1)), await refusal(leases.reserve('g', 1)), await refusal(leases.reserve('g', 1))]).toEqual([
      'granted',
      'granted',
      'over_quota',
    ]);
  });

  it('never gives back a lease under a request in flight, and a request that served nothing returns to it', async () => {
    const { leases, calls } = ledger(4);
    await leases.reserve('g', 1);
    await new Promise((r) => setTimeout(r, 5));
    await leases.releaseIdle(1);
    expect(calls.filter((c) => c.startsWith('release'))).toEqual([]);
    leases.settle('g', 0, 0, false);
    await new Promise((r) => setTimeout(r, 5));
    await leases.releaseIdle(1);
    expect(calls.filter((c) => c.startsWith('release'))).toEqual(['release g 4']);
  });
});
