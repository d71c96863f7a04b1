import { defineConfig } from 'vitest/config';

// Workspace packages resolve to their TypeScript sources, so tests need no build step.
const conditions = ['@rxkafka/source', 'import', 'module', 'node', 'default'];
const resolve = { conditions };
const ssr = { resolve: { conditions, externalConditions: ['@rxkafka/source'] } };
// Global setup files run in Vitest's own `__vitest__` environment, which reads neither of the above.
const environments = { __vitest__: { resolve: { conditions, externalConditions: ['@rxkafka/source'] } } };

// CI sets RXKAFKA_TEST_REPORT to collect a JSON report beside the usual output (see .ci/run).
const report = process.env['RXKAFKA_TEST_REPORT'];

export default defineConfig({
  resolve,
  ssr,
  environments,
  test: {
    ...(report ? { reporters: ['default', 'json'], outputFile: { json: report } } : {}),
    projects: [
      {
        resolve,
        ssr,
        environments,
        test: { name: 'unit:core', root: 'packages/core', include: ['src/**/*.spec.ts', 'src/**/*.test.ts'] },
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
