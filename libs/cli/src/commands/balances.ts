import type { Command } from 'commander';
import type { Action } from '../program';
import { fields, table } from '../render';
import { address } from './args';

export function registerBalances(program: Command, action: Action): void {
  program
    .command('balances')
    .description('token balance, stakes per model (active, unbonding) and reward claims per epoch of an address (incentives)')
    .argument('<address>', 'an EVM address (owner, host or prover)', address)
    .action(
      action(async (app, cmd, who) => {
        const b = await app.client(cmd).balances(who);
        const human = [
          fields([
            ['address', b.address],
            ['balance', `${b.token.balance} ${b.token.symbol}`],
            ['token', b.token.address],
          ]),
          `stakes:\n${table(b.stakes, [
            { header: 'MODEL', value: (s) => s.modelId },
            { header: 'ACTIVE', value: (s) => s.active },
            { header: 'UNBONDING', value: (s) => s.unbonding },
            { header: 'READY AT', value: (s) => s.unbondingReadyAt },
          ])}`,
          `claims:\n${table(b.claims, [
            { header: 'EPOCH', value: (c) => c.epoch },
            { header: 'AMOUNT', value: (c) => c.amount },
            { header: 'CLAIMED', value: (c) => (c.claimed ? 'yes' : 'no') },
          ])}`,
        ].join('\n\n');
        return { data: b, human };
      }),
    );
}
