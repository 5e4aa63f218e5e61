import { createZodDto, isoDateTime } from '@clopen/service-kit';
import { CLOPEN_CONTRACT_NAMES } from '@clopen/contracts';
import { getAddress, isAddress } from 'viem';
import { z } from 'zod';

// Path parameters (checked in the controller).
export const AddressParam = z
  .string()
  .refine((v) => isAddress(v), { message: 'must be an EVM address' })
  .transform((v) => getAddress(v));
export const EpochParam = z.string().regex(/^\d+$/, 'must be an epoch number');

const limit = z.coerce.number().int().min(1).max(1000).optional().describe('at most this many, newest first (1-1000, default 100)');
/** A uint256 or other on-chain integer, in decimal: JSON numbers cannot hold it. */
const uint = (what: string) => z.string().describe(`${what}, a decimal integer`);
const hex = (what: string) => z.string().describe(`${what}, 0x-prefixed hex`);

// Balances and claims

export const ClaimSchema = z.object({
  epoch: z.string(),
  account: z.string(),
  amount: uint('tokens'),
  proof: z.array(z.string()).describe('the Merkle proof RewardsVault.claim takes'),
  claimed: z.boolean(),
});
export class ClaimDto extends createZodDto(ClaimSchema) {}

export const BalanceSchema = z.object({
  address: z.string(),
  token: z.object({ address: z.string(), symbol: z.string().describe('empty when the token has no symbol()'), balance: uint('tokens') }),
  stakes: z.array(
    z.object({ modelId: uint('chain model id'), active: uint('tokens'), unbonding: uint('tokens'), unbondingReadyAt: z.string().datetime().nullable() }),
  ),
  claims: z.array(ClaimSchema.pick({ epoch: true, amount: true, claimed: true })),
});
export class BalanceDto extends createZodDto(BalanceSchema) {}

// Epochs

export const USAGE_STATUSES = ['committing', 'committed', 'empty', 'failed'] as const;
export const ASSIGNMENT_STATUSES = ['none', 'committing', 'committed', 'failed'] as const;
export const ALLOCATION_STATUSES = ['pending', 'posting', 'posted', 'nothing', 'failed'] as const;

export const ListEpochsSchema = z.object({ limit });
export class ListEpochsQuery extends createZodDto(ListEpochsSchema) {}

export const EpochSchema = z.object({
  epoch: z.string(),
  startedAt: isoDateTime(),
  endedAt: isoDateTime(),
  receiptRoot: z.string(),
  receiptCount: uint('receipts'),
  usageStatus: z.enum(USAGE_STATUSES),
  assignmentRoot: hex("the root of every pool's assignment root").nullable(),
  assignmentStatus: z.enum(ASSIGNMENT_STATUSES),
  allocationStatus: z.enum(ALLOCATION_STATUSES),
  allocationRoot: hex('the Merkle root posted to RewardsVault').nullable(),
  allocationTotal: uint('tokens').nullable(),
  error: z.string().nullable(),
});
export class EpochDto extends createZodDto(EpochSchema) {}
export type EpochView = z.input<typeof EpochSchema>;

export const AllocationPartSchema = z.object({
  role: z.enum(['owner', 'host', 'prover', 'protocol']),
  chainModelId: uint('chain model id'),
  amount: uint('tokens'),
});
export const AllocationEntrySchema = z.object({ account: z.string(), amount: uint('tokens'), parts: z.array(AllocationPartSchema) });
export type AllocationEntry = z.input<typeof AllocationEntrySchema>;

export const EpochDetailSchema = EpochSchema.extend({ allocation: z.array(AllocationEntrySchema).describe('account by account, what each may claim and why') });
export class EpochDetailDto extends createZodDto(EpochDetailSchema) {}
export type EpochDetail = z.input<typeof EpochDetailSchema>;

export const AllocationRetrySchema = z.object({ epoch: z.string(), allocationStatus: z.literal('pending') });
export class AllocationRetryDto extends createZodDto(AllocationRetrySchema) {}

// Slashes

export const SLASH_STATUSES = [
  'pending',
  'proposing',
  'proposed',
  'appealed',
  'resolving',
  'upheld',
  'executing',
  'executed',
  'dismissed',
  'skipped',
  'failed',
] as const;

export const ListSlashesSchema = z.object({
  status: z.enum(SLASH_STATUSES).optional(),
  host: z.string().optional().describe('only the slashes of this host address'),
  limit,
});
export class ListSlashesQuery extends createZodDto(ListSlashesSchema) {}

export const SlashSchema = z.object({
  id: z.string().uuid(),
  violationId: z.string(),
  kind: z.string().describe('the kind of violation proven'),
  modelId: z.string().describe('the platform version the violation was proven on'),
  hostAddress: z.string(),
  role: z.string().describe("the accused host's part in the violation"),
  prover: z.string(),
  evidenceHash: hex('the evidence hash given to HostCollateral.proposeSlash'),
  chainModelId: uint('chain model id').nullable(),
  amount: uint('tokens').nullable(),
  status: z.enum(SLASH_STATUSES),
  chainSlashId: uint('HostCollateral slash id').nullable(),
  appealDeadline: isoDateTime().nullable(),
  proverBounty: uint('tokens').nullable(),
  ownerShare: uint('tokens').nullable(),
  note: z.string().nullable(),
  createdAt: isoDateTime(),
  updatedAt: isoDateTime(),
});
export class SlashDto extends createZodDto(SlashSchema) {}
export type SlashView = z.input<typeof SlashSchema>;

export const ResolveSlashSchema = z
  .object({ uphold: z.boolean().describe('true executes the slash, false returns the stake'), reason: z.string().min(1).max(2000) })
  .strict();
export class ResolveSlashBody extends createZodDto(ResolveSlashSchema) {}

export const SlashResolvingSchema = z.object({ id: z.string(), status: z.literal('resolving'), uphold: z.boolean() });
export class SlashResolvingDto extends createZodDto(SlashResolvingSchema) {}

// Protocol transactions

export const TRANSACTION_STATUSES = ['queued', 'sent', 'confirmed', 'reverted', 'failed'] as const;

export const ListTransactionsSchema = z.object({ status: z.enum(TRANSACTION_STATUSES).optional(), limit });
export class ListTransactionsQuery extends createZodDto(ListTransactionsSchema) {}

export const TransactionSummarySchema = z.object({
  id: z.string().uuid(),
  purpose: z.string().describe('the business step, e.g. usage-root:7'),
  contract: z.enum(CLOPEN_CONTRACT_NAMES),
  functionName: z.string(),
  args: z.array(z.unknown()).describe("the call's arguments, bigints as decimal strings"),
  status: z.enum(TRANSACTION_STATUSES),
  nonce: uint('nonce').nullable(),
  hashes: z.array(z.string()).describe('every signed version, the first one first'),
  minedHash: z.string().nullable(),
  blockNumber: uint('block').nullable(),
  errorName: z.string().nullable().describe("the contract's custom error, when it reverted"),
  error: z.string().nullable(),
  createdAt: isoDateTime(),
  settledAt: isoDateTime().nullable(),
});
export class TransactionSummaryDto extends createZodDto(TransactionSummarySchema) {}
export type TransactionSummary = z.input<typeof TransactionSummarySchema>;

export const TransactionSchema = TransactionSummarySchema.extend({
  gas: uint('gas limit').nullable(),
  maxFeePerGas: uint('wei').nullable(),
  maxPriorityFeePerGas: uint('wei').nullable(),
  gasUsed: uint('gas').nullable(),
  sentAt: isoDateTime().nullable(),
});
export class TransactionDto extends createZodDto(TransactionSchema) {}
export type TransactionView = z.input<typeof TransactionSchema>;

// Model links

export const ModelLinkSchema = z.object({
  artefactHash: z.string().describe('the manifest hash both storage and ModelRegistry name'),
  modelId: z.string().nullable(),
  versionId: z.string().nullable(),
  chainModelId: uint('chain model id').nullable(),
  chainVersion: uint('chain version').nullable(),
});
export class ModelLinkDto extends createZodDto(ModelLinkSchema) {}

// Governance

const bps = z.number().int().min(0).max(10_000);
const SharesSchema = z.object({ ownerBps: bps, hostBps: bps, proverBps: bps, protocolBps: bps });

export const GovernanceSchema = z.object({
  shares: SharesSchema,
  appealWindowSeconds: z.number().int(),
  unstakeDelaySeconds: z.number().int(),
  proverBountyBps: bps,
  confirmations: z.number().int(),
  slashBps: bps,
  protocolAddress: z.string(),
  treasuryAddress: z.string(),
  roles: z
    .object({ protocol: z.boolean(), governance: z.boolean() })
    .describe('whether the protocol key holds PROTOCOL_ROLE and GOVERNANCE_ROLE on HostCollateral and RewardsVault'),
});
export class GovernanceDto extends createZodDto(GovernanceSchema) {}

export const GovernanceChangeSchema = z
  .object({
    shares: SharesSchema.strict()
      .refine((s) => s.ownerBps + s.hostBps + s.proverBps + s.protocolBps === 10_000, { message: 'the four shares must add up to 10000 basis points' })
      .optional(),
    appealWindowSeconds: z
      .number()
      .int()
      .min(0)
      .max(365 * 86_400)
      .optional(),
    unstakeDelaySeconds: z
      .number()
      .int()
      .min(0)
      .max(365 * 86_400)
      .optional(),
    proverBountyBps: bps.optional(),
    confirmations: z.number().int().min(0).max(10_000).optional(),
    slashBps: z.number().int().min(1).max(10_000).optional(),
  })
  .strict()
  .refine((c) => Object.keys(c).length > 0, { message: 'name at least one parameter to change' });
export class GovernanceChangeBody extends createZodDto(GovernanceChangeSchema) {}
export type GovernanceChange = z.infer<typeof GovernanceChangeSchema>;

export const GovernanceChangedSchema = z.object({
  queuedTransactions: z.array(z.string().uuid()).describe("the protocol transactions that change the chain's parameters"),
  applied: z
    .object({ confirmations: z.number().int().optional(), slashBps: z.number().int().optional() })
    .describe("this service's parameters, changed at once"),
});
export class GovernanceChangedDto extends createZodDto(GovernanceChangedSchema) {}

// Audit log

export const ListAuditSchema = z.object({
  action: z.string().optional().describe('e.g. governance.change, slash.resolve'),
  target: z.string().optional(),
  limit,
});
export class ListAuditQuery extends createZodDto(ListAuditSchema) {}

export const AuditRecordSchema = z.object({
  id: z.string(),
  at: isoDateTime(),
  principalId: z.string(),
  keyId: z.string(),
  action: z.string(),
  target: z.string(),
  before: z.record(z.unknown()).nullable(),
  after: z.record(z.unknown()).nullable(),
  transactionIds: z.array(z.string().uuid()),
});
export class AuditRecordDto extends createZodDto(AuditRecordSchema) {}
export type AuditRecord = z.input<typeof AuditRecordSchema>;
