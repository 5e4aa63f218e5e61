module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'host-sdk',
  rootDir: __dirname,
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'],
};
