import { defineConfig } from 'vitest/config';

import { ciReport, conditions, workspaceResolution } from './vitest.shared.js';

const { resolve, ssr, environments } = workspaceResolution;

export default defineConfig({
  resolve,
  ssr,
  environments,
  test: {
    ...ciReport,
    projects: [
      {
        resolve,
        ssr,
        environments,
        test: {
          name: 'unit:core',
          root: 'packages/core',
          include: ['src/**/*.spec.ts', 'src/**/*.test.ts'],
          setupFiles: ['./vitest.setup.ts'],
        },
      },
      {
        resolve,
        ssr,
        environments,
        test: { name: 'unit:testing', root: 'packages/testing', include: ['src/**/*.spec.ts', 'src/**/*.test.ts'] },
      },
      {
        resolve,
        ssr,
        environments,
        test: { name: 'unit:kafka', root: 'packages/kafka', include: ['src/**/*.spec.ts', 'src/**/*.test.ts'] },
      },
      {
        resolve,
        // Without 'module': Node would load @opentelemetry/api's bundler-only ESM build (extensionless imports).
        ssr: {
          resolve: { conditions: conditions.filter((c) => c !== 'module'), externalConditions: ['@rxkafka/source'] },
        },
        environments,
        test: { name: 'unit:observe', root: 'packages/observe', include: ['src/**/*.spec.ts', 'src/**/*.test.ts'] },
      },
      {
        resolve,
        ssr,
        environments,
        test: { name: 'unit:workspace', root: 'test', include: ['*.spec.ts'] },
      },
      {
        resolve,
        ssr,
        environments,
        test: { name: 'unit:benchmarks', root: 'benchmarks', include: ['src/**/*.spec.ts'] },
      },
      {
        resolve,
        ssr,
        environments,
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
