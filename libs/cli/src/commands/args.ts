import { InvalidArgumentError } from 'commander';
import { getAddress, isAddress } from 'viem';

// Checked here so that a typo fails before any call, with the option's name (exit code 2).

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function uuid(value: string): string {
  if (!UUID.test(value)) throw new InvalidArgumentError('must be an id (a uuid such as 0190f7a2-…)');
  return value.toLowerCase();
}

export function address(value: string): string {
  if (!isAddress(value, { strict: false })) throw new InvalidArgumentError('must be an EVM address (0x and 40 hex digits)');
  return getAddress(value);
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number ≥ 1');
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('must be a whole number ≥ 0');
  return n;
}

export function jsonObject(value: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (e) {
    throw new InvalidArgumentError(`must be a JSON object: ${(e as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new InvalidArgumentError('must be a JSON object, e.g. {"terms": "…"}');
  return parsed as Record<string, unknown>;
}

/** For repeatable options: `--parent a --parent b`. */
export const collect =
  <T>(parse: (v: string) => T) =>
  (value: string, previous: T[] = []): T[] => [...previous, parse(value)];
