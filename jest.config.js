// Jest runs TypeScript tests as ES modules (NestJS 12 and our packages are ESM-only).
// Workspace packages are imported by name and resolve to their built dist/ (npm test builds first).
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: '<rootDir>/tsconfig.test.json' }],
  },
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testMatch: [
    '<rootDir>/packages/*/test/**/*.test.ts',
    '<rootDir>/apps/*/test/**/*.test.ts',
    '<rootDir>/tests/**/*.test.ts',
  ],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  // Finds the SwiftShader Vulkan driver for the WebGPU-in-Node tests (no path to type).
  globalSetup: '<rootDir>/tests/global-setup.js',
  testTimeout: 120_000,
  // Two cores: heavy e2e suites each spawn processes of their own.
  maxWorkers: 2,
  // Safety net: a failing test that leaves a socket open must not hang CI until its time limit.
  forceExit: true,
};
