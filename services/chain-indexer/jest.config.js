module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'chain-indexer',
  rootDir: __dirname,
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'],
};
