import { startHardhatNode, type HardhatNode } from '../src';

describe('startHardhatNode', () => {
  let node: HardhatNode;
  beforeAll(async () => {
    node = await startHardhatNode();
  });
  afterAll(() => node?.stop());

  it('serves its own chain with the funded accounts', async () => {
    expect(node.chainId).toBe(31337);
    expect(node.accounts).toHaveLength(20);
    expect(node.accounts[0]).toMatch(/^0x[0-9a-f]{64}$/i);
    const other = await startHardhatNode();
    try {
      expect(other.url).not.toBe(node.url);
      await other.mine(5);
      expect(Number(await node.rpc('eth_blockNumber'))).toBe(0);
      expect(Number(await other.rpc('eth_blockNumber'))).toBe(5);
    } finally {
      await other.stop();
    }
  });

  it('mines, moves time, snapshots and reverts', async () => {
    const id = await node.snapshot();
    const before = Number(await node.rpc('eth_blockNumber'));
    await node.mine(3);
    expect(Number(await node.rpc('eth_blockNumber'))).toBe(before + 3);
    const t0 = Number((await node.rpc<{ timestamp: string }>('eth_getBlockByNumber', ['latest', false])).timestamp);
    await node.increaseTime(3600);
    const t1 = Number((await node.rpc<{ timestamp: string }>('eth_getBlockByNumber', ['latest', false])).timestamp);
    expect(t1 - t0).toBeGreaterThanOrEqual(3600);
    await node.revert(id);
    expect(Number(await node.rpc('eth_blockNumber'))).toBe(before);
    await expect(node.revert(id)).rejects.toThrow(/no snapshot/);
  });

  it('stops', async () => {
    const n = await startHardhatNode();
    await n.stop();
    await expect(n.rpc('eth_chainId')).rejects.toThrow();
  });
});
