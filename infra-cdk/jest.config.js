// Type checking is `tsc --noEmit` (npm test runs it first), so ts-jest only
// transpiles. The cdk8s package is TypeScript source inside node_modules, so it
// is transformed too. One synth per run: test/support/global-setup.ts.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }] },
  transformIgnorePatterns: ['/node_modules/(?!jobs-cdk8s/)'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  testTimeout: 120000,
  verbose: true,
};
