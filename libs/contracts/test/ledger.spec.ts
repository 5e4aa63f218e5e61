import { keccak256, toHex, zeroHash } from 'viem';
import { PROTOCOL_ROLE, usageLedgerAbi } from '../src';
import { errorsNotHit, events, expectRevert, isolateTests, startChain, type TestChain } from './chain';

const receipts = keccak256(toHex('epoch 7 receipts'));
const assignments = keccak256(toHex('assignment commitments at epoch 7'));

describe('UsageLedger', () => {
  let chain: TestChain;
  beforeAll(async () => {
    chain = await startChain();
  });
  afterAll(() => chain?.node.stop());
  isolateTests(() => chain);

  it('records an epoch usage root once, with its receipt count, and never overwrites it', async () => {
    const { as, mined, reader } = chain;
    const receipt = await mined(as('protocol').usageLedger.write.commitUsageRoot([7n, receipts, 1_234n]));
    expect(events(usageLedgerAbi, receipt)[0]).toMatchObject({
      eventName: 'UsageRootCommitted',
      args: { epoch: 7n, receiptRoot: receipts, receiptCount: 1_234n },
    });
    expect(await reader.usageLedger.read.usageOf([7n])).toMatchObject({ receiptRoot: receipts, receiptCount: 1_234n, committedAt: await chain.now() });
    await expectRevert(as('protocol').usageLedger.write.commitUsageRoot([7n, keccak256(toHex('other')), 1n]), 'UsageRootAlreadyWritten', [7n]);
    await expectRevert(as('protocol').usageLedger.write.commitUsageRoot([7n, receipts, 1_234n]), 'UsageRootAlreadyWritten');
    expect((await reader.usageLedger.read.usageOf([7n])).receiptRoot).toBe(receipts);
    // The next epoch is free.
    await mined(as('protocol').usageLedger.write.commitUsageRoot([8n, receipts, 0n]));
  });

  it('records an epoch assignment root once', async () => {
    const { as, mined, reader } = chain;
    const receipt = await mined(as('protocol').usageLedger.write.commitAssignmentRoot([7n, assignments]));
    expect(events(usageLedgerAbi, receipt)[0]).toMatchObject({ eventName: 'AssignmentRootCommitted', args: { epoch: 7n, assignmentRoot: assignments } });
    expect(await reader.usageLedger.read.assignmentRoot([7n])).toBe(assignments);
    await expectRevert(as('protocol').usageLedger.write.commitAssignmentRoot([7n, receipts]), 'AssignmentRootAlreadyWritten', [7n]);
  });

  it('refuses a zero root, which would read as no root', async () => {
    await expectRevert(chain.as('protocol').usageLedger.write.commitUsageRoot([1n, zeroHash, 0n]), 'ZeroRoot');
    await expectRevert(chain.as('protocol').usageLedger.write.commitAssignmentRoot([1n, zeroHash]), 'ZeroRoot');
  });

  it('takes roots from the protocol role only; the admin grants it', async () => {
    const { as, mined, address } = chain;
    await expectRevert(as('eve').usageLedger.write.commitUsageRoot([1n, receipts, 1n]), 'AccessControlUnauthorizedAccount', [address.eve, PROTOCOL_ROLE]);
    await expectRevert(as('deployer').usageLedger.write.commitAssignmentRoot([1n, assignments]), 'AccessControlUnauthorizedAccount', [
      address.deployer,
      PROTOCOL_ROLE,
    ]);
    await expectRevert(as('eve').usageLedger.write.grantRole([PROTOCOL_ROLE, address.eve]), 'AccessControlUnauthorizedAccount');
    await mined(as('deployer').usageLedger.write.grantRole([PROTOCOL_ROLE, address.eve]));
    await mined(as('eve').usageLedger.write.commitUsageRoot([1n, receipts, 1n]));
  });

  it('hits every custom error UsageLedger declares', () => {
    expect(errorsNotHit('UsageLedger')).toEqual([]);
  });
});
