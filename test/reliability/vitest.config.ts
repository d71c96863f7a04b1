import { defineConfig } from 'vitest/config';

// The reliability suite's own config: `pnpm test:reliability` (reduced CI profile) and
// `RXKAFKA_RELIABILITY=full pnpm test:reliability` (the sizes). Kept out of the root config's
// projects so `pnpm test` does not run it a second time. Each file starts its own broker, because
// scenarios stop, restart and kill it.
// Workspace packages resolve to their TypeScript sources, as in the root config.
const conditions = ['@rxkafka/source', 'import', 'module', 'node', 'default'];
const resolve = { conditions };
const ssr = { resolve: { conditions, externalConditions: ['@rxkafka/source'] } };
const environments = { __vitest__: { resolve: { conditions, externalConditions: ['@rxkafka/source'] } } };

// CI sets RXKAFKA_TEST_REPORT to collect a JSON report beside the usual output (see .ci/run).
const report = process.env['RXKAFKA_TEST_REPORT'];

export default defineConfig({
  resolve,
  ssr,
  environments,
  test: {
    name: 'reliability',
    root: import.meta.dirname,
    include: ['**/*.rel.test.ts'],
    ...(report ? { reporters: ['default', 'json'], outputFile: { json: report } } : {}),
    // Per-test timeouts come from the profile (profile.ts); this is only the outer bound.
    testTimeout: 60 * 60_000,
    hookTimeout: 180_000,
    // Real processes against a real broker on two cores: one file at a time.
    fileParallelism: false,
  },
});
