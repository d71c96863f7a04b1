import { defineConfig } from 'vitest/config';

// Workspace packages resolve to their TypeScript sources, so tests need no build step.
const conditions = ['@rxkafka/source', 'import', 'module', 'node', 'default'];
const resolve = { conditions };
const ssr = { resolve: { conditions, externalConditions: ['@rxkafka/source'] } };

export default defineConfig({
  resolve,
  ssr,
  test: {
    projects: [
      {
        resolve,
        ssr,
        test: { name: 'unit:core', root: 'packages/core', include: ['src/**/*.spec.ts', 'src/**/*.test.ts'] },
      },
      {
        resolve,
        ssr,
        test: { name: 'unit:testing', root: 'packages/testing', include: ['src/**/*.spec.ts', 'src/**/*.test.ts'] },
      },
      {
        resolve,
        ssr,
        test: { name: 'unit:kafka', root: 'packages/kafka', include: ['src/**/*.spec.ts', 'src/**/*.test.ts'] },
      },
      {
        resolve,
        ssr,
        test: {
          name: 'integration',
          root: 'test',
          include: ['**/*.int.test.ts'],
          globalSetup: ['./global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // One broker on two cores: suites run one file at a time so timings stay meaningful.
          fileParallelism: false,
        },
      },
    ],
  },
});
