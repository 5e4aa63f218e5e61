import { getAddress } from 'viem';
import { allocateEpoch } from './allocation';

const A = (n: number) => getAddress(`0x${n.toString(16).padStart(40, '0')}`);
const shares = { ownerBps: 5000, hostBps: 3000, proverBps: 1000, protocolBps: 1000 };

describe('allocateEpoch', () => {
  it('splits fees by the shares and adds up to them exactly, rounding to the protocol', () => {
    const { entries, total } = allocateEpoch(
      [
        {
          chainModelId: 1n,
          owner: A(1),
          fees: 1001n,
          hosts: new Map([
            [A(2), 2n],
            [A(3), 1n],
          ]),
          provers: new Map([[A(4), 1n]]),
        },
      ],
      shares,
      A(9),
    );
    const by = Object.fromEntries(entries.map((e) => [e.account, e.amount]));
    expect(by[A(1)]).toBe(500n);
    expect(by[A(2)]).toBe(200n); // 300 * 2/3
    expect(by[A(3)]).toBe(100n);
    expect(by[A(4)]).toBe(100n);
    expect(by[A(9)]).toBe(101n); // its 100 and the rounding
    expect(total).toBe(1001n);
  });

  it("gives the provers' share to the protocol when nobody proved anything, and sums an account's parts across models", () => {
    const { entries, total } = allocateEpoch(
      [
        { chainModelId: 1n, owner: A(1), fees: 100n, hosts: new Map([[A(2), 1n]]), provers: new Map() },
        { chainModelId: 2n, owner: A(2), fees: 100n, hosts: new Map([[A(1), 5n]]), provers: new Map() },
      ],
      shares,
      A(9),
    );
    const a1 = entries.find((e) => e.account === A(1))!;
    expect(a1.amount).toBe(50n + 30n);
    expect(a1.parts.map((p) => p.role).sort()).toEqual(['host', 'owner']);
    expect(entries.find((e) => e.account === A(9))!.amount).toBe(40n);
    expect(total).toBe(200n);
  });

  it('leaves out models without fees', () => {
    expect(allocateEpoch([{ chainModelId: 1n, owner: A(1), fees: 0n, hosts: new Map(), provers: new Map() }], shares, A(9))).toEqual({
      entries: [],
      total: 0n,
    });
  });
});
