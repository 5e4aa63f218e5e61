module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'model-links',
  rootDir: __dirname,
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'],
};
