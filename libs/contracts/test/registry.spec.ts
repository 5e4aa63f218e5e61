import { keccak256, toHex, zeroHash } from 'viem';
import { GOVERNANCE_ROLE, PROTOCOL_ROLE, hostCollateralAbi, modelRegistryAbi, rewardsVaultAbi, usageLedgerAbi } from '../src';
import { DEFAULTS, errorsNotHit, events, expectRevert, isolateTests, startChain, type TestChain } from './chain';

const artefact = keccak256(toHex('alice/model v1 files'));
const terms = keccak256(toHex('licence: research only'));

describe('deployment and ModelRegistry', () => {
  let chain: TestChain;
  beforeAll(async () => {
    chain = await startChain();
  });
  afterAll(() => chain?.node.stop());
  isolateTests(() => chain);

  it('deploys every contract with its parameters and the protocol role granted', async () => {
    const { publicClient, addresses, reader, address } = chain;
    for (const a of Object.values(addresses)) expect(await publicClient.getCode({ address: a })).toMatch(/^0x[0-9a-f]{100,}/);
    for (const c of [reader.hostCollateral, reader.usageLedger, reader.rewardsVault]) {
      expect(await c.read.hasRole([PROTOCOL_ROLE, address.protocol])).toBe(true);
      expect(await c.read.hasRole([PROTOCOL_ROLE, address.eve])).toBe(false);
      expect(await c.read.hasRole([zeroHash, address.deployer])).toBe(true);
    }
    expect(await reader.hostCollateral.read.hasRole([GOVERNANCE_ROLE, address.deployer])).toBe(true);
    expect(await reader.hostCollateral.read.unstakeDelay()).toBe(DEFAULTS.unstakeDelaySeconds);
    expect(await reader.hostCollateral.read.appealWindow()).toBe(DEFAULTS.appealWindowSeconds);
    expect(await reader.hostCollateral.read.proverBountyBps()).toBe(DEFAULTS.proverBountyBps);
    expect(await reader.hostCollateral.read.token()).toBe(addresses.token);
    expect(await reader.hostCollateral.read.registry()).toBe(addresses.modelRegistry);
    expect(await reader.rewardsVault.read.shares()).toEqual(DEFAULTS.shares);
    expect(await reader.modelRegistry.read.name()).toBe('Clopen Model');
    // The ABIs are `as const`: viem knows every function by name and its types.
    expect(modelRegistryAbi.some((i) => i.type === 'function' && i.name === 'registerModel')).toBe(true);
    expect(
      [hostCollateralAbi, usageLedgerAbi, rewardsVaultAbi].every((abi) => abi.some((i) => i.type === 'error' && i.name === 'AccessControlUnauthorizedAccount')),
    ).toBe(true);
  });

  it('mints a model token to whoever registers it, with its fee', async () => {
    const { as, mined, reader, address } = chain;
    const receipt = await mined(as('alice').modelRegistry.write.registerModel([5n]));
    const [transfer, registered] = events(modelRegistryAbi, receipt);
    expect(transfer.eventName).toBe('Transfer');
    expect(registered).toMatchObject({ eventName: 'ModelRegistered', args: { modelId: 1n, owner: address.alice, feePerRequest: 5n } });
    expect(await reader.modelRegistry.read.ownerOf([1n])).toBe(address.alice);
    expect(await reader.modelRegistry.read.feePerRequest([1n])).toBe(5n);
    expect(await reader.modelRegistry.read.exists([1n])).toBe(true);
    expect(await reader.modelRegistry.read.exists([2n])).toBe(false);
    await mined(as('bob').modelRegistry.write.registerModel([0n]));
    expect(await reader.modelRegistry.read.ownerOf([2n])).toBe(address.bob);
    expect(await reader.modelRegistry.read.modelCount()).toBe(2n);
  });

  it('lets only the owner append versions and set the fee', async () => {
    const { as, mined, reader } = chain;
    await mined(as('alice').modelRegistry.write.registerModel([5n]));
    const receipt = await mined(as('alice').modelRegistry.write.publishVersion([1n, artefact, terms]));
    expect(events(modelRegistryAbi, receipt)[0]).toMatchObject({
      eventName: 'VersionPublished',
      args: { modelId: 1n, version: 1n, artefactHash: artefact, licenceTermsHash: terms },
    });
    await mined(as('alice').modelRegistry.write.publishVersion([1n, keccak256(toHex('v2')), terms]));
    expect(await reader.modelRegistry.read.versionCount([1n])).toBe(2n);
    expect(await reader.modelRegistry.read.versionOf([1n, 1n])).toMatchObject({ artefactHash: artefact, licenceTermsHash: terms });

    const fee = await mined(as('alice').modelRegistry.write.setFeePerRequest([1n, 9n]));
    expect(events(modelRegistryAbi, fee)[0]).toMatchObject({ eventName: 'FeePerRequestSet', args: { modelId: 1n, feePerRequest: 9n } });
    expect(await reader.modelRegistry.read.feePerRequest([1n])).toBe(9n);

    await expectRevert(as('eve').modelRegistry.write.publishVersion([1n, artefact, terms]), 'NotModelOwner', [1n, chain.address.eve]);
    await expectRevert(as('eve').modelRegistry.write.setFeePerRequest([1n, 0n]), 'NotModelOwner');
    await expectRevert(as('alice').modelRegistry.write.publishVersion([7n, artefact, terms]), 'UnknownModel', [7n]);
    await expectRevert(as('alice').modelRegistry.write.publishVersion([1n, zeroHash, terms]), 'ZeroArtefactHash');
    await expectRevert(reader.modelRegistry.read.versionOf([1n, 0n]), 'UnknownVersion', [1n, 0n]);
    await expectRevert(reader.modelRegistry.read.versionOf([1n, 3n]), 'UnknownVersion', [1n, 3n]);
  });

  it('moves ownership with the token: the new owner publishes, the old one no longer can', async () => {
    const { as, mined, reader, address } = chain;
    await mined(as('alice').modelRegistry.write.registerModel([5n]));
    await mined(as('alice').modelRegistry.write.transferFrom([address.alice, address.dave, 1n]));
    expect(await reader.modelRegistry.read.ownerOf([1n])).toBe(address.dave);
    await mined(as('dave').modelRegistry.write.publishVersion([1n, artefact, terms]));
    await expectRevert(as('alice').modelRegistry.write.publishVersion([1n, artefact, terms]), 'NotModelOwner');
  });

  it('hits every custom error ModelRegistry declares', () => {
    expect(errorsNotHit('ModelRegistry')).toEqual([]);
  });
});
