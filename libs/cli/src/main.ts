import { processIo } from './io';
import { run } from './program';

// `clopen`: the built bin (bin/clopen.js) and `npm run clopen --` both land here.
run(process.argv.slice(2), processIo()).then(
  (code) => (process.exitCode = code),
  (e) => {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    process.exitCode = 1;
  },
);
