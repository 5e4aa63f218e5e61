import { BaseError, ContractFunctionRevertedError, decodeErrorResult, type Hex } from 'viem';
import { hostCollateralAbi, modelRegistryAbi, rewardsVaultAbi, testTokenAbi, usageLedgerAbi } from './generated';

const everyError = [...hostCollateralAbi, ...modelRegistryAbi, ...rewardsVaultAbi, ...usageLedgerAbi, ...testTokenAbi].filter((item) => item.type === 'error');

export interface ContractRevert {
  /** The custom error's name (`AppealWindowClosed`), or `Error`/`Panic` for require strings and panics. */
  name: string;
  args: readonly unknown[];
}

/**
 * The custom error a Clopen contract reverted with, from whatever viem threw: decoded errors of
 * contract calls, and the raw revert data of deployments and plain calls, which are decoded
 * against every Clopen ABI. Undefined when the failure was not a revert (RPC down, nonce, gas).
 */
export function contractRevert(err: unknown): ContractRevert | undefined {
  if (!(err instanceof BaseError)) return undefined;
  const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError);
  if (reverted instanceof ContractFunctionRevertedError && reverted.data) return { name: reverted.data.errorName, args: reverted.data.args ?? [] };
  let data: Hex | undefined;
  err.walk((e) => {
    const d = (e as { data?: unknown }).data;
    if (typeof d === 'string' && /^0x[0-9a-f]{8}/i.test(d)) data = d as Hex;
    else if (d && typeof (d as { data?: unknown }).data === 'string') data = (d as { data: Hex }).data;
    return data !== undefined;
  });
  if (!data) return undefined;
  try {
    const decoded = decodeErrorResult({ abi: everyError, data });
    return { name: decoded.errorName, args: decoded.args ?? [] };
  } catch {
    return { name: `unknown error ${data.slice(0, 10)}`, args: [] };
  }
}
