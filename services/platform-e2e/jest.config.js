module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'platform-e2e',
  rootDir: __dirname,
  // onnxruntime's typed arrays across jest's realm (see libs/inference/jest.environment.js).
  testEnvironment: require.resolve('@clopen/inference/jest.environment.js'),
  testMatch: ['<rootDir>/test/**/*.spec.ts'],
};
