import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

describe('generated ABIs and bytecode', () => {
  it('equal a fresh solc compile of the Solidity sources (else: npm run contracts:build)', () => {
    const out = execFileSync(process.execPath, [join(__dirname, '../scripts/compile.mjs'), '--check'], { encoding: 'utf8', stdio: 'pipe' });
    expect(out).toMatch(/up to date/);
  }, 60_000);
});
