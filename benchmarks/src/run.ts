/**
 * Runs every suite and writes the results:
 *   benchmarks/results/core.json, benchmarks/results/kafka.json  (machine-readable, small)
 *   benchmarks/results/latest.md                                 (both tables)
 *
 *   pnpm --filter @rxkafka/benchmarks bench
 *   BENCH_SUITES=core pnpm --filter @rxkafka/benchmarks bench     (core, kafka, or 'core;kafka')
 *
 * Core runs first, before a broker is started, so the JVM does not compete with it for the CPU.
 */
import { coreMarkdown, runCoreBench } from './core.bench.js';
import { ensureCompiledTarget, envList, writeMarkdown, writeResult } from './harness.js';
import { kafkaMarkdown, runKafkaBench } from './kafka.bench.js';

ensureCompiledTarget();

const suites = envList('BENCH_SUITES') ?? ['core', 'kafka'];
const unknown = suites.filter((s) => s !== 'core' && s !== 'kafka');
if (unknown.length > 0) throw new Error(`BENCH_SUITES: unknown suite(s) ${unknown.join(', ')}; use core, kafka`);

const sections: string[] = [
  '# rxkafka benchmark results',
  '',
  'Written by `pnpm --filter @rxkafka/benchmarks bench` (benchmarks/src/run.ts). See benchmarks/README.md for method and caveats. ' +
    'This machine is shared (a broker and test runs may be using the CPU at the same time): compare ratios measured in the same round, not absolute numbers across runs.',
];

if (suites.includes('core')) {
  const core = await runCoreBench();
  writeResult('core', core);
  writeMarkdown('core', coreMarkdown(core, '#'));
  sections.push('', coreMarkdown(core));
}
if (suites.includes('kafka')) {
  const kafka = await runKafkaBench();
  writeResult('kafka', kafka);
  writeMarkdown('kafka', kafkaMarkdown(kafka, '#'));
  sections.push('', kafkaMarkdown(kafka));
}

const path = writeMarkdown('latest', sections.join('\n'));
console.log(`\n${sections.join('\n')}\n\nwrote ${path}`);
