import { defineConfig } from 'vitest/config';

// The reliability suite's own config: `pnpm test:reliability` (reduced CI profile) and
// `RXKAFKA_RELIABILITY=full pnpm test:reliability` (the sizes). Kept out of the root config's
// projects so `pnpm test` does not run it a second time. Each file starts its own broker, because
// scenarios stop, restart and kill it.
import { ciReport, workspaceResolution } from '../../vitest.shared.js';

export default defineConfig({
  ...workspaceResolution,
  test: {
    name: 'reliability',
    root: import.meta.dirname,
    include: ['**/*.rel.test.ts'],
    ...ciReport,
    // Per-test timeouts come from the profile (profile.ts); this is only the outer bound.
    testTimeout: 60 * 60_000,
    hookTimeout: 180_000,
    // Real processes against a real broker on two cores: one file at a time.
    fileParallelism: false,
  },
});
