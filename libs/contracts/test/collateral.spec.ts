import { keccak256, toHex, zeroAddress } from 'viem';
import { hostCollateralAbi, hostCollateralBytecode, PROTOCOL_ROLE } from '../src';
import { DEFAULTS, errorsNotHit, events, expectRevert, isolateTests, startChain, type Role, type TestChain } from './chain';

const STAKE = 10_000n;
const SLASH = 4_000n;
const evidence = (n: number) => keccak256(toHex(`violation ${n}`));
const Status = { Proposed: 1, Appealed: 2, Upheld: 3, Dismissed: 4, Executed: 5 } as const;

describe('HostCollateral', () => {
  let chain: TestChain;
  const WINDOW = DEFAULTS.appealWindowSeconds;
  const DELAY = DEFAULTS.unstakeDelaySeconds;

  beforeAll(async () => {
    chain = await startChain();
    // Alice's model 1; Bob and Charlie hold tokens and have approved the collateral contract.
    const { as, mined, addresses } = chain;
    await mined(as('alice').modelRegistry.write.registerModel([5n]));
    for (const host of ['bob', 'charlie'] as const) {
      await mined(as(host).testToken.write.mint([chain.address[host], 100_000n]));
      await mined(as(host).token.write.approve([addresses.hostCollateral, 2n ** 255n]));
    }
  });
  afterAll(() => chain?.node.stop());
  isolateTests(() => chain);

  const stake = (host: Role, amount = STAKE) => chain.mined(chain.as(host).hostCollateral.write.stake([1n, amount]));
  const propose = (amount = SLASH, n = 1, host: Role = 'bob') =>
    chain.mined(chain.as('protocol').hostCollateral.write.proposeSlash([chain.address[host], 1n, amount, chain.address.prover, evidence(n)]));
  const slash = (id: bigint) => chain.reader.hostCollateral.read.slashOf([id]);
  const stakeOf = (host: Role) => chain.reader.hostCollateral.read.stakeOf([chain.address[host], 1n]);

  it('stakes per (host, model) and pulls the tokens', async () => {
    const receipt = await stake('bob');
    expect(events(hostCollateralAbi, receipt).find((e) => e.eventName === 'Staked')).toMatchObject({
      args: { host: chain.address.bob, modelId: 1n, amount: STAKE, active: STAKE },
    });
    expect(await stakeOf('bob')).toEqual({ active: STAKE, unbonding: 0n, unbondingReadyAt: 0n });
    expect(await chain.balance(chain.addresses.hostCollateral)).toBe(STAKE);
    await expectRevert(chain.as('bob').hostCollateral.write.stake([1n, 0n]), 'ZeroAmount');
    await expectRevert(chain.as('bob').hostCollateral.write.stake([9n, 1n]), 'UnknownModel', [9n]);
  });

  it('releases unstaked collateral only after the delay', async () => {
    const { as, mined } = chain;
    await stake('bob');
    await expectRevert(as('bob').hostCollateral.write.requestUnstake([1n, STAKE + 1n]), 'InsufficientStake', [STAKE, STAKE + 1n]);
    await expectRevert(as('bob').hostCollateral.write.requestUnstake([1n, 0n]), 'ZeroAmount');
    await expectRevert(as('bob').hostCollateral.write.withdraw([1n]), 'NothingToWithdraw', [chain.address.bob, 1n]);
    const receipt = await mined(as('bob').hostCollateral.write.requestUnstake([1n, 6_000n]));
    const readyAt = (await chain.now()) + DELAY;
    expect(events(hostCollateralAbi, receipt)[0]).toMatchObject({ eventName: 'UnstakeRequested', args: { amount: 6_000n, readyAt } });
    expect(await stakeOf('bob')).toEqual({ active: 4_000n, unbonding: 6_000n, unbondingReadyAt: readyAt });

    await chain.node.increaseTime(DELAY - 10n);
    await expectRevert(as('bob').hostCollateral.write.withdraw([1n]), 'UnstakeNotReady', [readyAt]);
    await chain.node.increaseTime(10n);
    const before = await chain.balance(chain.address.bob);
    const w = await mined(as('bob').hostCollateral.write.withdraw([1n]));
    expect(events(hostCollateralAbi, w).find((e) => e.eventName === 'Withdrawn')).toMatchObject({ args: { amount: 6_000n } });
    expect(await chain.balance(chain.address.bob)).toBe(before + 6_000n);
    expect(await stakeOf('bob')).toEqual({ active: 4_000n, unbonding: 0n, unbondingReadyAt: 0n });
    await expectRevert(as('bob').hostCollateral.write.withdraw([1n]), 'NothingToWithdraw');
  });

  it('lets no one but the protocol propose, resolve or execute a slash, and no one but governance set parameters', async () => {
    const { as, address } = chain;
    await stake('bob');
    const unauthorized = [address.eve, PROTOCOL_ROLE];
    await expectRevert(
      as('eve').hostCollateral.write.proposeSlash([address.bob, 1n, SLASH, address.eve, evidence(1)]),
      'AccessControlUnauthorizedAccount',
      unauthorized,
    );
    // The host itself and the model owner are no protocol either.
    await expectRevert(as('alice').hostCollateral.write.proposeSlash([address.bob, 1n, SLASH, address.alice, evidence(1)]), 'AccessControlUnauthorizedAccount');
    await propose();
    await expectRevert(as('eve').hostCollateral.write.executeSlash([1n]), 'AccessControlUnauthorizedAccount', unauthorized);
    await expectRevert(as('eve').hostCollateral.write.resolveAppeal([1n, true]), 'AccessControlUnauthorizedAccount', unauthorized);
    // One at a time: a write started early rejects before it is awaited (an unhandled rejection).
    for (const write of [
      () => as('eve').hostCollateral.write.setAppealWindow([1n]),
      () => as('protocol').hostCollateral.write.setUnstakeDelay([1n]),
      () => as('eve').hostCollateral.write.setProverBountyBps([1]),
    ]) {
      await expectRevert(write(), 'AccessControlUnauthorizedAccount');
    }
  });

  it('executes a slash only after the appeal window, paying the prover its bounty and the owner the rest', async () => {
    const { as, mined, address } = chain;
    await stake('bob');
    const proposed = await mined(as('protocol').hostCollateral.write.proposeSlash([address.bob, 1n, SLASH, address.prover, evidence(1)]));
    const deadline = (await chain.now()) + WINDOW;
    expect(events(hostCollateralAbi, proposed)[0]).toMatchObject({
      eventName: 'SlashProposed',
      args: { slashId: 1n, host: address.bob, modelId: 1n, amount: SLASH, prover: address.prover, evidenceHash: evidence(1), appealDeadline: deadline },
    });
    // Reserved at once: the host cannot unstake it.
    expect((await stakeOf('bob')).active).toBe(STAKE - SLASH);
    await expectRevert(as('bob').hostCollateral.write.requestUnstake([1n, STAKE]), 'InsufficientStake', [STAKE - SLASH, STAKE]);

    await expectRevert(as('protocol').hostCollateral.write.executeSlash([1n]), 'AppealWindowOpen', [1n, deadline]);
    await chain.node.increaseTime(WINDOW - 5n);
    await expectRevert(as('protocol').hostCollateral.write.executeSlash([1n]), 'AppealWindowOpen');
    await chain.node.increaseTime(5n);

    const [prover, owner, vault] = await Promise.all([
      chain.balance(address.prover),
      chain.balance(address.alice),
      chain.balance(chain.addresses.hostCollateral),
    ]);
    const executed = await mined(as('protocol').hostCollateral.write.executeSlash([1n]));
    const bounty = (SLASH * BigInt(DEFAULTS.proverBountyBps)) / 10_000n;
    expect(bounty).toBe(1_000n);
    expect(events(hostCollateralAbi, executed).find((e) => e.eventName === 'SlashExecuted')).toMatchObject({
      args: { slashId: 1n, prover: address.prover, proverBounty: bounty, modelOwner: address.alice, ownerShare: SLASH - bounty },
    });
    expect(await chain.balance(address.prover)).toBe(prover + bounty);
    expect(await chain.balance(address.alice)).toBe(owner + SLASH - bounty);
    expect(await chain.balance(chain.addresses.hostCollateral)).toBe(vault - SLASH);
    expect((await slash(1n)).status).toBe(Status.Executed);
    await expectRevert(as('protocol').hostCollateral.write.executeSlash([1n]), 'InvalidSlashStatus', [1n, Status.Executed]);
  });

  it('pays the owner of the model at execution, after a transfer', async () => {
    const { as, mined, address } = chain;
    await stake('bob');
    await propose();
    await mined(as('alice').modelRegistry.write.transferFrom([address.alice, address.dave, 1n]));
    await chain.node.increaseTime(WINDOW);
    await mined(as('protocol').hostCollateral.write.executeSlash([1n]));
    expect(await chain.balance(address.dave)).toBe(SLASH - 1_000n);
  });

  it('slashes unbonding collateral too, so unstaking does not escape a violation', async () => {
    const { as, mined } = chain;
    await stake('bob');
    await mined(as('bob').hostCollateral.write.requestUnstake([1n, 8_000n]));
    await propose(5_000n);
    expect(await stakeOf('bob')).toMatchObject({ active: 0n, unbonding: 5_000n });
    await expectRevert(propose(5_001n, 2), 'InsufficientStake', [5_000n, 5_001n]);
    await chain.node.increaseTime(DELAY);
    const before = await chain.balance(chain.address.bob);
    await mined(as('bob').hostCollateral.write.withdraw([1n]));
    expect(await chain.balance(chain.address.bob)).toBe(before + 5_000n);
  });

  it('refuses malformed and duplicate proposals', async () => {
    const { as, address } = chain;
    await stake('bob');
    await expectRevert(propose(0n), 'ZeroAmount');
    await expectRevert(as('protocol').hostCollateral.write.proposeSlash([address.bob, 1n, SLASH, zeroAddress, evidence(1)]), 'ZeroAddress');
    await expectRevert(as('protocol').hostCollateral.write.proposeSlash([zeroAddress, 1n, SLASH, address.prover, evidence(1)]), 'ZeroAddress');
    await expectRevert(propose(STAKE + 1n), 'InsufficientStake', [STAKE, STAKE + 1n]);
    await propose(1_000n, 1);
    // The same violation seen twice slashes once.
    await expectRevert(propose(1_000n, 1), 'EvidenceAlreadyUsed', [evidence(1)]);
    await expectRevert(as('protocol').hostCollateral.write.executeSlash([2n]), 'UnknownSlash', [2n]);
    await expectRevert(as('bob').hostCollateral.write.appeal([2n]), 'UnknownSlash');
    await expectRevert(as('protocol').hostCollateral.write.resolveAppeal([2n, false]), 'UnknownSlash');
  });

  it('freezes a slash appealed within the window, even after the window, until the protocol resolves it', async () => {
    const { as, mined, address } = chain;
    await stake('bob');
    await stake('charlie');
    await propose(SLASH, 1, 'bob');
    await expectRevert(as('charlie').hostCollateral.write.appeal([1n]), 'NotSlashedHost', [1n, address.charlie]);
    await expectRevert(as('protocol').hostCollateral.write.resolveAppeal([1n, true]), 'InvalidSlashStatus', [1n, Status.Proposed]);
    await chain.node.increaseTime(WINDOW - 10n);
    const appealed = await mined(as('bob').hostCollateral.write.appeal([1n]));
    expect(events(hostCollateralAbi, appealed)[0]).toMatchObject({ eventName: 'SlashAppealed', args: { slashId: 1n, host: address.bob } });
    await expectRevert(as('bob').hostCollateral.write.appeal([1n]), 'InvalidSlashStatus', [1n, Status.Appealed]);
    await chain.node.increaseTime(WINDOW);
    await expectRevert(as('protocol').hostCollateral.write.executeSlash([1n]), 'InvalidSlashStatus', [1n, Status.Appealed]);
    expect((await slash(1n)).status).toBe(Status.Appealed);
  });

  it('refuses an appeal after the window', async () => {
    await stake('bob');
    const proposed = await propose();
    const deadline = events(hostCollateralAbi, proposed)[0].args as { appealDeadline: bigint };
    await chain.node.increaseTime(WINDOW);
    await expectRevert(chain.as('bob').hostCollateral.write.appeal([1n]), 'AppealWindowClosed', [1n, deadline.appealDeadline]);
  });

  it('executes an upheld appeal at once', async () => {
    const { as, mined, address } = chain;
    await stake('bob');
    await propose();
    await mined(as('bob').hostCollateral.write.appeal([1n]));
    const resolved = await mined(as('protocol').hostCollateral.write.resolveAppeal([1n, true]));
    expect(events(hostCollateralAbi, resolved)[0]).toMatchObject({ eventName: 'SlashAppealResolved', args: { slashId: 1n, upheld: true } });
    expect((await slash(1n)).status).toBe(Status.Upheld);
    await mined(as('protocol').hostCollateral.write.executeSlash([1n]));
    expect(await chain.balance(address.prover)).toBe(1_000n);
    expect(await chain.balance(address.alice)).toBe(3_000n);
    expect((await stakeOf('bob')).active).toBe(STAKE - SLASH);
  });

  it('cancels a dismissed appeal and gives the reserve back to the host', async () => {
    const { as, mined, address } = chain;
    await stake('bob');
    await propose();
    await mined(as('bob').hostCollateral.write.appeal([1n]));
    await mined(as('protocol').hostCollateral.write.resolveAppeal([1n, false]));
    expect((await slash(1n)).status).toBe(Status.Dismissed);
    expect((await stakeOf('bob')).active).toBe(STAKE);
    await chain.node.increaseTime(WINDOW);
    await expectRevert(as('protocol').hostCollateral.write.executeSlash([1n]), 'InvalidSlashStatus', [1n, Status.Dismissed]);
    expect(await chain.balance(address.prover)).toBe(0n);
  });

  it('lets governance change the delay, window and bounty, for later requests and proposals only', async () => {
    const { as, mined, address } = chain;
    await stake('bob');
    await propose(1_000n, 1);
    const receipts = [
      await mined(as('deployer').hostCollateral.write.setAppealWindow([60n])),
      await mined(as('deployer').hostCollateral.write.setUnstakeDelay([120n])),
      await mined(as('deployer').hostCollateral.write.setProverBountyBps([10_000])),
    ];
    expect(receipts.map((r) => events(hostCollateralAbi, r)[0].eventName)).toEqual(['AppealWindowSet', 'UnstakeDelaySet', 'ProverBountySet']);
    await expectRevert(as('deployer').hostCollateral.write.setProverBountyBps([10_001]), 'InvalidBasisPoints', [10_001n]);
    await propose(1_000n, 2);
    await chain.node.increaseTime(60n);
    await mined(as('protocol').hostCollateral.write.executeSlash([2n]));
    expect(await chain.balance(address.prover)).toBe(1_000n); // the whole slash: bounty 100 %
    await expectRevert(as('protocol').hostCollateral.write.executeSlash([1n]), 'AppealWindowOpen');
  });

  it('refuses a deployment without its addresses or with a bounty above 100 %', async () => {
    const { wallets, addresses, address } = chain;
    const deploy = (admin: `0x${string}`, bps: number) =>
      wallets.deployer.deployContract({
        abi: hostCollateralAbi,
        bytecode: hostCollateralBytecode,
        args: [admin, addresses.token, addresses.modelRegistry, 1n, 1n, bps],
      });
    await expectRevert(deploy(zeroAddress, 0), 'ZeroAddress');
    await expectRevert(deploy(address.deployer, 10_001), 'InvalidBasisPoints', [10_001n]);
  });

  it('hits every custom error HostCollateral declares', () => {
    expect(errorsNotHit('HostCollateral')).toEqual([]);
  });
});
