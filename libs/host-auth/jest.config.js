module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'host-auth',
  rootDir: __dirname,
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'],
};
