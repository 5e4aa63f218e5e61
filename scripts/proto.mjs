#!/usr/bin/env node
// proto:generate regenerates libs/proto/src/gen; proto:check lints, checks breaking changes
// against the previous commit that had protos, and fails when the generated code is stale.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const buf = join(root, 'node_modules/.bin/buf');
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
/** Runs a check; on failure, says what failed (the tool already printed why) and stops. */
const check = (what, cmd, args) => {
  try {
    run(cmd, args);
  } catch {
    console.error(`proto check failed: ${what}`);
    process.exit(1);
  }
};
const git = (args) => execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();

const mode = process.argv[2];
if (mode === 'generate') {
  run(buf, ['generate']);
} else if (mode === 'check') {
  check('buf lint', buf, ['lint']);
  // Breaking changes are judged against main's tip when we are on another branch, else against
  // the last commit before HEAD that touched proto/ (so a commit on main cannot break main).
  let against = null;
  try {
    const head = git(['rev-parse', 'HEAD']);
    let base = null;
    try {
      base = git(['rev-parse', '--verify', 'origin/main']);
    } catch {
      /* no remote */
    }
    if (!base || base === head) base = git(['log', '-1', '--format=%H', 'HEAD~1', '--', 'proto']) || null;
    if (base) against = base;
  } catch {
    /* no history yet */
  }
  if (against) {
    console.log(`buf breaking against ${against.slice(0, 12)}`);
    check(`breaking change against ${against.slice(0, 12)}: add fields and messages instead of changing or removing them`, buf, [
      'breaking',
      '--against',
      `.git#ref=${against},subdir=proto`,
      'proto',
    ]);
  } else {
    console.log('buf breaking skipped: no earlier commit with protos');
  }
  const tmp = mkdtempSync(join(tmpdir(), 'clopen-proto-'));
  try {
    cpSync(join(root, 'libs/proto/src/gen'), join(tmp, 'before'), { recursive: true });
    run(buf, ['generate']);
    run('diff', ['-r', join(tmp, 'before'), join(root, 'libs/proto/src/gen')]);
  } catch (e) {
    console.error('libs/proto/src/gen is stale: run `npm run proto:generate` and commit the result');
    process.exit(1);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
} else {
  console.error('usage: proto.mjs generate|check');
  process.exit(2);
}
