module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'storage-client',
  rootDir: __dirname,
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'],
};
