// Shared jest settings: every project transpiles with swc (decorator metadata on, as NestJS needs)
// and resolves @clopen/* libs to their sources, so tests never depend on a prior build.
const path = require('node:path');
const fs = require('node:fs');

const swcrc = JSON.parse(fs.readFileSync(path.join(__dirname, '.swcrc'), 'utf8'));
delete swcrc.$schema;

module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.(t|j)s$': ['@swc/jest', { ...swcrc, swcrc: false }] },
  moduleFileExtensions: ['ts', 'js', 'json'],
  moduleNameMapper: { '^@clopen/([^/]+)$': path.join(__dirname, 'libs/$1/src/index.ts') },
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  reporters: ['default', path.join(__dirname, 'tools/jest-summary-reporter.js')],
  // The wall limit of a test or hook that set none (jest's own is 5 s): suites wait on real
  // dependencies (a hardhat node, a service, NATS) by readiness with the limits set once in
  // libs/testing/src/limits.ts, so on a loaded machine they get slower, not red.
  testTimeout: 300_000 * Math.max(1, Number(process.env.CLOPEN_TEST_WAIT_SCALE) || 1),
};
