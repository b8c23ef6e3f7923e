// Type checking is `tsc --noEmit` (npm test runs it first), so ts-jest only
// transpiles (tsconfig has isolatedModules).
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }] },
  testTimeout: 120000,
  verbose: true,
};
