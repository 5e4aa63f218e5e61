module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'embedding-jobs',
  rootDir: __dirname,
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'],
};
