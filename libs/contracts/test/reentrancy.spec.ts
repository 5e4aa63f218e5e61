// A token that calls its recipient back (like ERC-777) hands control to a malicious host, prover
// or claimant in the middle of a payout; every payout path must refuse to be entered again.
import { decodeErrorResult, encodeFunctionData, erc20Abi, type Abi, type Address, type Hex } from 'viem';
import { AllocationTree, hostCollateralAbi, hostCollateralBytecode, PROTOCOL_ROLE, rewardsVaultAbi, rewardsVaultBytecode } from '../src';
import { hookedTestTokenAbi, hookedTestTokenBytecode, reentrantActorAbi, reentrantActorBytecode } from './generated';
import { DEFAULTS, isolateTests, startChain, type TestChain } from './chain';

describe('reentrancy through a token that calls its recipient back', () => {
  let chain: TestChain;
  let hooked: Address;
  let collateral: Address;
  let vault: Address;
  let actor: Address;

  const deployed = async (abi: Abi, bytecode: Hex, args: readonly unknown[] = []) => {
    const hash = await chain.wallets.deployer.deployContract({ abi, bytecode, args } as Parameters<TestChain['wallets']['deployer']['deployContract']>[0]);
    return (await chain.mined(hash)).contractAddress!;
  };
  const send = (address: Address, abi: Abi, functionName: string, args: readonly unknown[] = [], by: 'deployer' | 'protocol' | 'dave' | 'eve' = 'eve') =>
    chain.mined(chain.wallets[by].writeContract({ address, abi, functionName, args } as Parameters<TestChain['wallets']['eve']['writeContract']>[0]));
  /** The actor calls `to` itself: it is the host or the claimant. */
  const actorCalls = (to: Address, abi: Abi, functionName: string, args: readonly unknown[]) =>
    send(actor, reentrantActorAbi, 'act', [to, encodeFunctionData({ abi, functionName, args })]);
  const arm = (to: Address, abi: Abi, functionName: string, args: readonly unknown[]) =>
    send(actor, reentrantActorAbi, 'arm', [to, encodeFunctionData({ abi, functionName, args })]);
  const read = <T>(address: Address, abi: Abi, functionName: string, args: readonly unknown[] = []) =>
    chain.publicClient.readContract({ address, abi, functionName, args }) as Promise<T>;
  const balance = (who: Address) => read<bigint>(hooked, erc20Abi, 'balanceOf', [who]);
  const reentryOutcome = async (abi: Abi) => ({
    hooksRun: await read<bigint>(actor, reentrantActorAbi, 'hooksRun'),
    succeeded: await read<boolean>(actor, reentrantActorAbi, 'reentrySucceeded'),
    error: decodeErrorResult({ abi, data: await read<Hex>(actor, reentrantActorAbi, 'reentryError') }).errorName,
  });

  beforeAll(async () => {
    chain = await startChain();
    const { addresses, address } = chain;
    hooked = await deployed(hookedTestTokenAbi, hookedTestTokenBytecode);
    collateral = await deployed(hostCollateralAbi, hostCollateralBytecode, [
      address.deployer,
      hooked,
      addresses.modelRegistry,
      100n,
      100n,
      DEFAULTS.proverBountyBps,
    ]);
    vault = await deployed(rewardsVaultAbi, rewardsVaultBytecode, [address.deployer, hooked, addresses.modelRegistry, DEFAULTS.shares]);
    actor = await deployed(reentrantActorAbi, reentrantActorBytecode);
    for (const c of [collateral, vault]) await send(c, hostCollateralAbi, 'grantRole', [PROTOCOL_ROLE, address.protocol], 'deployer');
    await chain.mined(chain.as('alice').modelRegistry.write.registerModel([5n]));
    await send(hooked, hookedTestTokenAbi, 'mint', [actor, 10_000n]);
    await actorCalls(hooked, erc20Abi, 'approve', [collateral, 10_000n]);
  });
  afterAll(() => chain?.node.stop());
  isolateTests(() => chain);

  it('a host cannot withdraw twice by re-entering withdraw from the payout', async () => {
    await actorCalls(collateral, hostCollateralAbi, 'stake', [1n, 1_000n]);
    await actorCalls(collateral, hostCollateralAbi, 'requestUnstake', [1n, 1_000n]);
    await chain.node.increaseTime(100n);
    await arm(collateral, hostCollateralAbi, 'withdraw', [1n]);
    await actorCalls(collateral, hostCollateralAbi, 'withdraw', [1n]);
    expect(await reentryOutcome(hostCollateralAbi)).toEqual({ hooksRun: 1n, succeeded: false, error: 'ReentrancyGuardReentrantCall' });
    expect(await balance(actor)).toBe(10_000n);
    expect(await balance(collateral)).toBe(0n);
  });

  it('a prover cannot re-enter the collateral contract from its bounty payout', async () => {
    // The actor is both a host with collateral ready to withdraw and the prover of a slash on Bob.
    await send(hooked, hookedTestTokenAbi, 'mint', [chain.address.bob, 1_000n]);
    await chain.mined(chain.wallets.bob.writeContract({ address: hooked, abi: erc20Abi, functionName: 'approve', args: [collateral, 1_000n] }));
    await chain.mined(chain.wallets.bob.writeContract({ address: collateral, abi: hostCollateralAbi, functionName: 'stake', args: [1n, 1_000n] }));
    await actorCalls(collateral, hostCollateralAbi, 'stake', [1n, 500n]);
    await actorCalls(collateral, hostCollateralAbi, 'requestUnstake', [1n, 500n]);
    await send(collateral, hostCollateralAbi, 'proposeSlash', [chain.address.bob, 1n, 1_000n, actor, `0x${'ab'.repeat(32)}`], 'protocol');
    await chain.node.increaseTime(100n);
    await arm(collateral, hostCollateralAbi, 'withdraw', [1n]);
    await send(collateral, hostCollateralAbi, 'executeSlash', [1n], 'protocol');
    expect(await reentryOutcome(hostCollateralAbi)).toMatchObject({ succeeded: false, error: 'ReentrancyGuardReentrantCall' });
    // The bounty only; the unbonding 500 stay until the actor withdraws outside a payout.
    expect(await balance(actor)).toBe(10_000n - 500n + 250n);
    expect(await balance(chain.address.alice)).toBe(750n);
    await actorCalls(collateral, hostCollateralAbi, 'withdraw', [1n]);
    expect(await balance(actor)).toBe(10_000n + 250n);
  });

  it('a claimant cannot claim twice by re-entering claim from the payout', async () => {
    const { address } = chain;
    await send(hooked, hookedTestTokenAbi, 'mint', [address.dave, 1_000n]);
    await send(hooked, erc20Abi, 'approve', [vault, 1_000n], 'dave');
    await send(vault, rewardsVaultAbi, 'deposit', [1n, 1_000n], 'dave');
    const tree = new AllocationTree([
      { account: actor, amount: 600n },
      { account: address.alice, amount: 400n },
    ]);
    await send(vault, rewardsVaultAbi, 'postAllocation', [1n, tree.root, tree.total], 'protocol');
    const claimArgs = [1n, actor, 600n, tree.proof(actor)] as const;
    await arm(vault, rewardsVaultAbi, 'claim', claimArgs);
    await send(vault, rewardsVaultAbi, 'claim', claimArgs, 'dave');
    expect(await reentryOutcome(rewardsVaultAbi)).toEqual({ hooksRun: 1n, succeeded: false, error: 'ReentrancyGuardReentrantCall' });
    expect(await balance(actor)).toBe(10_000n + 600n);
    expect(await read<{ claimed: bigint }>(vault, rewardsVaultAbi, 'allocationOf', [1n])).toMatchObject({ claimed: 600n });
    expect(await balance(vault)).toBe(400n);
  });
});
