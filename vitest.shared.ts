/** Settings both Vitest configs share: the root one and the reliability suite's own. */

// Workspace packages resolve to their TypeScript sources, so tests need no build step.
export const conditions = ['@rxkafka/source', 'import', 'module', 'node', 'default'];

export const workspaceResolution = {
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['@rxkafka/source'] } },
  // Global setup files run in Vitest's own `__vitest__` environment, which reads neither of the above.
  environments: { __vitest__: { resolve: { conditions, externalConditions: ['@rxkafka/source'] } } },
};

// CI sets RXKAFKA_TEST_REPORT to collect a JSON report beside the usual output (see .ci/run).
const report = process.env['RXKAFKA_TEST_REPORT'];

/** Reporters: the default one, plus a JSON report when CI asks for it. */
export const ciReport = report ? { reporters: ['default', 'json'], outputFile: { json: report } } : {};
