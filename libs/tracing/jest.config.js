module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'tracing',
  rootDir: __dirname,
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'],
};
