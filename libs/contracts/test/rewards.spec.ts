import { zeroAddress, zeroHash, type Address } from 'viem';
import { AllocationTree, allocationLeaf, PROTOCOL_ROLE, GOVERNANCE_ROLE, rewardsVaultAbi, rewardsVaultBytecode, verifyAllocationProof } from '../src';
import { DEFAULTS, errorsNotHit, events, expectRevert, isolateTests, startChain, type TestChain } from './chain';

describe('RewardsVault', () => {
  let chain: TestChain;
  beforeAll(async () => {
    chain = await startChain();
    const { as, mined, addresses, address } = chain;
    await mined(as('alice').modelRegistry.write.registerModel([5n]));
    for (const user of ['dave', 'eve'] as const) {
      await mined(as(user).testToken.write.mint([address[user], 1_000_000n]));
      await mined(as(user).token.write.approve([addresses.rewardsVault, 2n ** 255n]));
    }
  });
  afterAll(() => chain?.node.stop());
  isolateTests(() => chain);

  const deposit = (user: 'dave' | 'eve', amount: bigint) => chain.mined(chain.as(user).rewardsVault.write.deposit([1n, amount]));
  const post = (epoch: bigint, tree: AllocationTree, total = tree.total) =>
    chain.mined(chain.as('protocol').rewardsVault.write.postAllocation([epoch, tree.root, total]));
  const claim = (epoch: bigint, tree: AllocationTree, account: Address, by: 'dave' | 'eve' = 'dave') =>
    chain.mined(chain.as(by).rewardsVault.write.claim([epoch, account, tree.amountOf(account), tree.proof(account)]));

  /** An epoch's fees split by the governance shares, as incentives computes them off-chain. */
  const split = (fees: bigint): AllocationTree => {
    const { ownerBps, hostBps, proverBps } = DEFAULTS.shares;
    const owner = (fees * BigInt(ownerBps)) / 10_000n;
    const host = (fees * BigInt(hostBps)) / 10_000n;
    const prover = (fees * BigInt(proverBps)) / 10_000n;
    const { address } = chain;
    return new AllocationTree([
      { account: address.alice, amount: owner },
      { account: address.bob, amount: host },
      { account: address.prover, amount: prover },
      { account: address.deployer, amount: fees - owner - host - prover }, // the protocol's share takes the rounding
    ]);
  };

  it('takes fee deposits for a model', async () => {
    const receipt = await deposit('dave', 1_000n);
    expect(events(rewardsVaultAbi, receipt).find((e) => e.eventName === 'FeesDeposited')).toMatchObject({
      args: { modelId: 1n, payer: chain.address.dave, amount: 1_000n },
    });
    await deposit('eve', 500n);
    expect(await chain.reader.rewardsVault.read.depositedFor([1n])).toBe(1_500n);
    expect(await chain.reader.rewardsVault.read.totalDeposited()).toBe(1_500n);
    expect(await chain.balance(chain.addresses.rewardsVault)).toBe(1_500n);
    await expectRevert(chain.as('dave').rewardsVault.write.deposit([1n, 0n]), 'ZeroAmount');
    await expectRevert(chain.as('dave').rewardsVault.write.deposit([2n, 10n]), 'UnknownModel', [2n]);
  });

  it('pays claims that add up to the allocation, each account once', async () => {
    const { address, reader } = chain;
    await deposit('dave', 10_000n);
    await deposit('eve', 2_345n);
    const tree = split(12_345n);
    expect(tree.total).toBe(12_345n);
    const posted = await post(1n, tree);
    expect(events(rewardsVaultAbi, posted)[0]).toMatchObject({ eventName: 'AllocationPosted', args: { epoch: 1n, root: tree.root, total: 12_345n } });

    const paid = new Map<Address, bigint>();
    for (const { account } of tree.entries) {
      const before = await chain.balance(account);
      // Anyone may submit the claim; the tokens go to the account.
      const receipt = await claim(1n, tree, account, 'eve');
      expect(events(rewardsVaultAbi, receipt).find((e) => e.eventName === 'Claimed')).toMatchObject({
        args: { epoch: 1n, account, amount: tree.amountOf(account) },
      });
      paid.set(account, (await chain.balance(account)) - before);
    }
    expect(paid.get(address.alice)).toBe(8_641n); // 70 % of 12 345, rounded down
    expect([...paid.values()].reduce((a, b) => a + b, 0n)).toBe(12_345n);
    expect(await reader.rewardsVault.read.allocationOf([1n])).toEqual({ root: tree.root, total: 12_345n, claimed: 12_345n });
    expect(await chain.balance(chain.addresses.rewardsVault)).toBe(0n);
    expect(await reader.rewardsVault.read.claimed([1n, address.alice])).toBe(true);
    await expectRevert(claim(1n, tree, address.alice), 'AlreadyClaimed', [1n, address.alice]);
  });

  it('never allocates more than the deposits not yet allocated', async () => {
    await deposit('dave', 1_000n);
    const first = new AllocationTree([{ account: chain.address.alice, amount: 600n }]);
    await post(1n, first);
    const second = new AllocationTree([{ account: chain.address.bob, amount: 401n }]);
    await expectRevert(post(2n, second), 'AllocationExceedsDeposits', [401n, 400n]);
    await post(2n, new AllocationTree([{ account: chain.address.bob, amount: 400n }]));
    expect(await chain.reader.rewardsVault.read.totalAllocated()).toBe(1_000n);
    await expectRevert(post(3n, first), 'AllocationExceedsDeposits', [600n, 0n]);
  });

  it('refuses a second allocation for an epoch, an empty one, and claims that do not match it', async () => {
    const { address } = chain;
    await deposit('dave', 1_000n);
    const tree = split(1_000n);
    await post(1n, tree);
    await expectRevert(post(1n, split(100n)), 'AllocationAlreadyPosted', [1n]);
    await expectRevert(chain.as('protocol').rewardsVault.write.postAllocation([2n, zeroHash, 1n]), 'ZeroRoot');
    await expectRevert(chain.as('protocol').rewardsVault.write.postAllocation([2n, tree.root, 0n]), 'ZeroAmount');
    await expectRevert(claim(2n, tree, address.alice), 'UnknownAllocation', [2n]);
    // A wrong amount, another account's proof, or an account outside the tree.
    const amount = tree.amountOf(address.alice);
    await expectRevert(chain.as('dave').rewardsVault.write.claim([1n, address.alice, amount + 1n, tree.proof(address.alice)]), 'InvalidProof', [
      1n,
      address.alice,
      amount + 1n,
    ]);
    await expectRevert(chain.as('dave').rewardsVault.write.claim([1n, address.alice, amount, tree.proof(address.bob)]), 'InvalidProof');
    await expectRevert(chain.as('eve').rewardsVault.write.claim([1n, address.eve, amount, tree.proof(address.alice)]), 'InvalidProof');
  });

  it('never pays out more than an epoch total, even for a root whose leaves add up to more', async () => {
    await deposit('dave', 1_000n);
    const tree = new AllocationTree([
      { account: chain.address.alice, amount: 700n },
      { account: chain.address.bob, amount: 700n },
    ]);
    await post(1n, tree, 1_000n);
    await claim(1n, tree, chain.address.alice);
    await expectRevert(claim(1n, tree, chain.address.bob), 'ClaimExceedsAllocation', [1n, 300n, 700n]);
  });

  it('uses the leaf and proofs that @clopen/contracts computes', async () => {
    const { address } = chain;
    expect(await chain.reader.rewardsVault.read.allocationLeaf([address.alice, 42n])).toBe(allocationLeaf(address.alice, 42n));
    const tree = new AllocationTree(['alice', 'bob', 'charlie', 'prover', 'dave'].map((r, i) => ({ account: address[r as 'alice'], amount: BigInt(i + 1) })));
    for (const e of tree.entries) expect(verifyAllocationProof(tree.root, e.account, e.amount, tree.proof(e.account))).toBe(true);
    expect(verifyAllocationProof(tree.root, address.alice, 2n, tree.proof(address.alice))).toBe(false);
    expect(
      () =>
        new AllocationTree([
          { account: address.alice, amount: 1n },
          { account: address.alice, amount: 2n },
        ]),
    ).toThrow(/appears twice/);
  });

  it('lets governance set the shares, which must sum to 10000 basis points', async () => {
    const { as, mined } = chain;
    const shares = { ownerBps: 6_000, hostBps: 3_000, proverBps: 500, protocolBps: 500 };
    const receipt = await mined(as('deployer').rewardsVault.write.setShares([shares]));
    expect(events(rewardsVaultAbi, receipt)[0]).toMatchObject({ eventName: 'SharesSet', args: shares });
    expect(await chain.reader.rewardsVault.read.shares()).toEqual(shares);
    await expectRevert(as('deployer').rewardsVault.write.setShares([{ ...shares, protocolBps: 501 }]), 'SharesDoNotSum', [10_001n]);
    await expectRevert(as('eve').rewardsVault.write.setShares([shares]), 'AccessControlUnauthorizedAccount', [chain.address.eve, GOVERNANCE_ROLE]);
  });

  it('takes allocations from the protocol role only', async () => {
    await deposit('dave', 1_000n);
    const tree = split(1_000n);
    for (const who of ['eve', 'deployer', 'alice'] as const) {
      await expectRevert(chain.as(who).rewardsVault.write.postAllocation([1n, tree.root, tree.total]), 'AccessControlUnauthorizedAccount', [
        chain.address[who],
        PROTOCOL_ROLE,
      ]);
    }
  });

  it('refuses a deployment without its addresses or with shares that do not sum to 10000', async () => {
    const { wallets, addresses, address } = chain;
    const deploy = (admin: Address, ownerBps: number) =>
      wallets.deployer.deployContract({
        abi: rewardsVaultAbi,
        bytecode: rewardsVaultBytecode,
        args: [admin, addresses.token, addresses.modelRegistry, { ...DEFAULTS.shares, ownerBps }],
      });
    await expectRevert(deploy(zeroAddress, DEFAULTS.shares.ownerBps), 'ZeroAddress');
    await expectRevert(deploy(address.deployer, 0), 'SharesDoNotSum', [3_000n]);
  });

  it('hits every custom error RewardsVault declares', () => {
    expect(errorsNotHit('RewardsVault')).toEqual([]);
  });
});
