import { getAddress, type Address } from 'viem';
import type { z } from 'zod';
import type { AllocationPartSchema } from '../settlement/settlement.contracts';

export interface Shares {
  ownerBps: number;
  hostBps: number;
  proverBps: number;
  protocolBps: number;
}

export interface ModelEpochUsage {
  chainModelId: bigint;
  owner: Address;
  /** What the epoch's requests cost: feePerRequest × requests, capped by the model's unallocated deposits. */
  fees: bigint;
  /** Requests served per host. */
  hosts: Map<Address, bigint>;
  /** Violations proven on this model during the epoch, per prover. */
  provers: Map<Address, bigint>;
}

/** One reason an account is allocated tokens (the `parts` of an allocation entry). */
export type AllocationPart = z.infer<typeof AllocationPartSchema>;

const BPS = 10_000n;

/** `amount` split by weight, floors only (the remainder stays with the caller). */
function proRata<K>(amount: bigint, weights: Map<K, bigint>): Map<K, bigint> {
  const total = [...weights.values()].reduce((a, b) => a + b, 0n);
  const out = new Map<K, bigint>();
  if (total === 0n) return out;
  for (const [k, w] of weights) out.set(k, (amount * w) / total);
  return out;
}

/**
 * One epoch's allocation: each model's fees split by the governance shares between its owner,
 * the hosts that served it (by requests), the provers that proved violations on it (by count), and
 * the protocol, which also takes the rounding and the provers' share when nobody proved anything.
 * The amounts add up to the fees exactly; an account's parts from every model are summed.
 */
export function allocateEpoch(models: readonly ModelEpochUsage[], shares: Shares, treasury: Address) {
  const accounts = new Map<Address, { amount: bigint; parts: AllocationPart[] }>();
  const credit = (account: Address, role: AllocationPart['role'], chainModelId: bigint, amount: bigint) => {
    if (amount <= 0n) return;
    const key = getAddress(account);
    const entry = accounts.get(key) ?? { amount: 0n, parts: [] };
    entry.amount += amount;
    entry.parts.push({ role, chainModelId: chainModelId.toString(), amount: amount.toString() });
    accounts.set(key, entry);
  };
  for (const m of models) {
    if (m.fees <= 0n) continue;
    const ownerPart = (m.fees * BigInt(shares.ownerBps)) / BPS;
    const hostParts = proRata((m.fees * BigInt(shares.hostBps)) / BPS, m.hosts);
    const proverParts = proRata((m.fees * BigInt(shares.proverBps)) / BPS, m.provers);
    credit(m.owner, 'owner', m.chainModelId, ownerPart);
    for (const [host, amount] of hostParts) credit(host, 'host', m.chainModelId, amount);
    for (const [prover, amount] of proverParts) credit(prover, 'prover', m.chainModelId, amount);
    const paid = ownerPart + [...hostParts.values(), ...proverParts.values()].reduce((a, b) => a + b, 0n);
    credit(treasury, 'protocol', m.chainModelId, m.fees - paid);
  }
  const entries = [...accounts.entries()]
    .map(([account, e]) => ({ account, amount: e.amount, parts: e.parts }))
    .sort((a, b) => a.account.localeCompare(b.account));
  return { entries, total: entries.reduce((s, e) => s + e.amount, 0n) };
}
