module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'host-gateway',
  rootDir: __dirname,
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'],
};
