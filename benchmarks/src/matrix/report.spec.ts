import { describe, expect, it } from 'vitest';

import type { RunResult } from './common.js';
import { summarise, type CaseSpec, type MatrixRaw } from './report.js';

const result = (over: Partial<RunResult>): RunResult => ({
  records: 1000,
  bytes: 100_000,
  joinMs: 300,
  firstRecordMs: 100,
  windowMs: 1100,
  cpuSeconds: 1,
  peakRssMB: 100,
  ...over,
});

const io: CaseSpec = {
  id: 'io-10ms-c10-unordered',
  scenario: 'io',
  title: 'io',
  topic: 't',
  partitions: 1,
  records: 1000,
  valueBytes: 100,
  keys: 1,
  delayMs: 10,
  concurrency: 10,
};
const passthrough: CaseSpec = { ...io, id: 'passthrough', scenario: 'passthrough', baseline: 'raw' };

const matrix = (runs: MatrixRaw['runs']): MatrixRaw => ({
  suite: 'matrix',
  profile: 'quick',
  machine: {} as MatrixRaw['machine'],
  rounds: 1,
  contenders: [
    { id: 'raw', label: 'raw', describe: '' },
    { id: 'rx', label: 'rx', describe: '' },
  ],
  skipped: {},
  cases: [io, passthrough],
  latencyRates: {},
  runs,
});

describe('the matrix summary', () => {
  const summary = summarise(
    matrix([
      { round: 0, caseId: io.id, contender: 'rx', result: result({}), wallMs: 0 },
      { round: 0, caseId: passthrough.id, contender: 'raw', result: result({ windowMs: 500 }), wallMs: 0 },
      { round: 0, caseId: passthrough.id, contender: 'rx', result: result({}), wallMs: 0 },
    ]),
  );
  const cell = (caseId: string, contender: string) =>
    summary.cells.find((c) => c.caseId === caseId && c.contender === contender);

  it("takes an I/O run's rate from its first record, and reports the time before it apart", () => {
    // 1000 records in the 1000 ms after the first record: the bound (10 ÷ 10 ms = 1000/s) exactly.
    expect(cell(io.id, 'rx')?.recordsPerSecond?.median).toBe(1000);
    expect(cell(io.id, 'rx')?.vsLittle?.median).toBe(1);
    expect(cell(io.id, 'rx')?.firstRecordMs?.median).toBe(100);
  });

  it('takes every other rate from the assignment, so a prefetch before the first record counts', () => {
    // 1000 records over the 1100 ms since the assignment (rates over 100 are rounded).
    expect(cell(passthrough.id, 'rx')?.recordsPerSecond?.median).toBe(909);
    expect(cell(passthrough.id, 'rx')?.vsBaseline?.median).toBeCloseTo(500 / 1100, 3);
  });
});
