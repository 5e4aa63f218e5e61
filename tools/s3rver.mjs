#!/usr/bin/env node
// The local S3 server for development and benchmarks (see libs/testing/s3-server.cjs).
// Prints one line "s3rver listening on http://host:port" when it is ready.
//   node tools/s3rver.mjs --port 9000 --dir .local/s3 --bucket clopen-artefacts
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const { startS3Server } = require('../libs/testing/s3-server.cjs');
const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '9000' },
    address: { type: 'string', default: '127.0.0.1' },
    dir: { type: 'string', default: '.local/s3' },
    bucket: { type: 'string', multiple: true, default: [] },
  },
});
mkdirSync(values.dir, { recursive: true });
const server = await startS3Server({ port: Number(values.port), address: values.address, directory: values.dir, buckets: values.bucket });
console.log(`s3rver listening on http://${values.address}:${server.port}`);
const stop = () => server.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
