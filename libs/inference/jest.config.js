module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'inference',
  rootDir: __dirname,
  testEnvironment: '<rootDir>/jest.environment.js',
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'],
};
