module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'apidocs',
  rootDir: __dirname,
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/examples/**/*.spec.ts'],
};
