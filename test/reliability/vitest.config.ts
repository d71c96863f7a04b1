import { defineConfig } from 'vitest/config';

// Standalone config for the reliability suite (`pnpm exec vitest run --config test/reliability/vitest.config.ts`).
// Workspace packages resolve to their TypeScript sources, as in the root config.
const conditions = ['@rxkafka/source', 'import', 'module', 'node', 'default'];
const resolve = { conditions };
const ssr = { resolve: { conditions, externalConditions: ['@rxkafka/source'] } };

export default defineConfig({
  resolve,
  ssr,
  test: {
    name: 'reliability',
    root: import.meta.dirname,
    include: ['**/*.rel.test.ts'],
    // Each file starts its own broker (scenarios restart and kill it); per-test timeouts come from the profile.
    testTimeout: 30 * 60_000,
    hookTimeout: 180_000,
    // Real processes against a real broker on two cores: one file at a time.
    fileParallelism: false,
  },
});
