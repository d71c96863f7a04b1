/**
 * Summaries of a matrix run (medians of rounds, ratios within a round) and its markdown.
 */
import type { MachineInfo } from '../harness.js';
import type { RunResult, Scenario } from './common.js';

export interface CaseSpec {
  readonly id: string;
  readonly scenario: Scenario;
  readonly title: string;
  readonly topic: string;
  readonly partitions: number;
  readonly records: number;
  readonly valueBytes: number;
  readonly keys: number;
  readonly baseline?: string;
  readonly delayMs?: number;
  readonly concurrency?: number;
  readonly ordering?: 'unordered' | 'key';
  readonly stallMs?: number;
  readonly maxMs?: number;
}

export interface RunRecord {
  readonly round: number;
  readonly caseId: string;
  readonly contender: string;
  readonly result?: RunResult & { latency?: Record<string, number> };
  readonly error?: string;
  readonly wallMs: number;
}

export interface MatrixRaw {
  readonly suite: 'matrix';
  readonly profile: 'quick' | 'full';
  readonly machine: MachineInfo;
  readonly rounds: number;
  readonly contenders: readonly { id: string; label: string; describe: string }[];
  readonly skipped: Readonly<Record<string, string>>;
  readonly cases: readonly CaseSpec[];
  /** Per contender: half its own median passthrough rate (12 × 100 B) in this run. */
  readonly latencyRates: Readonly<Record<string, number>>;
  /** When the latency rounds come from a separate latency-only run (BENCH_MERGE_LATENCY). */
  readonly latencyRun?: { readonly date: string; readonly loadAverage: readonly number[] };
  readonly runs: readonly RunRecord[];
}

export interface Stat {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export interface CellSummary {
  readonly caseId: string;
  readonly contender: string;
  readonly runs: number;
  readonly errors: readonly string[];
  readonly recordsPerSecond?: Stat;
  readonly mbPerSecond?: Stat;
  readonly cpuMicrosPerRecord?: Stat;
  readonly peakRssMB?: Stat;
  readonly joinMs?: Stat;
  /** Assignment → first record handed over. */
  readonly firstRecordMs?: Stat;
  /** records/s ÷ the baseline's records/s in the same round. */
  readonly vsBaseline?: Stat;
  /** io: records/s ÷ (concurrency ÷ delay). */
  readonly vsLittle?: Stat;
  readonly latencyMs?: { readonly p50: Stat; readonly p99: Stat; readonly p999: Stat };
  readonly notes: readonly string[];
}

export interface MatrixResult extends MatrixRaw {
  readonly cells: readonly CellSummary[];
}

function stat(values: readonly number[]): Stat | undefined {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = Math.floor(v.length / 2);
  const median = v.length % 2 === 1 ? (v[mid] ?? NaN) : ((v[mid - 1] ?? NaN) + (v[mid] ?? NaN)) / 2;
  const r = (x: number): number => (Math.abs(x) >= 100 ? Math.round(x) : Math.round(x * 1000) / 1000);
  return { median: r(median), min: r(v[0] ?? NaN), max: r(v.at(-1) ?? NaN) };
}

function optional<K extends string>(key: K, value: Stat | undefined): Partial<Record<K, Stat>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, Stat>);
}

/**
 * The span a run's rate is taken over. I/O runs: from the first record handed over, since Little's law
 * bounds a steady state and prefetch cannot flatter a handler-bound run; assignment → first record
 * (about 110 ms for every librdkafka client of a new group, docs/decisions.md 51) is `firstRecordMs`,
 * reported apart. Every other scenario: from the assignment (see the module comment of common.ts).
 */
export function rateWindowMs(r: RunResult, scenario: Scenario | undefined): number {
  return scenario === 'io' ? r.windowMs - r.firstRecordMs : r.windowMs;
}

export function rateOf(r: RunResult, scenario: Scenario | undefined): number {
  const ms = rateWindowMs(r, scenario);
  return ms > 0 ? (r.records / ms) * 1000 : NaN;
}

export function summarise(raw: MatrixRaw): MatrixResult {
  const cells: CellSummary[] = [];
  const caseIds = [...raw.cases.map((c) => c.id), 'latency'];
  for (const caseId of caseIds) {
    const spec = raw.cases.find((c) => c.id === caseId);
    for (const { id } of raw.contenders) {
      const runs = raw.runs.filter((r) => r.caseId === caseId && r.contender === id);
      if (runs.length === 0) continue;
      const ok = runs.filter((r) => r.result !== undefined && r.error === undefined).map((r) => r.result!);
      const okRuns = runs.filter((r) => r.result !== undefined && r.error === undefined);
      const errors = runs
        .filter((r) => r.error !== undefined)
        .map((r) => `round ${String(r.round + 1)}: ${r.error ?? ''}`);
      const notes = [...new Set(ok.map((r) => r.note).filter((n): n is string => n !== undefined))].slice(0, 3);
      const ratios: number[] = [];
      if (spec?.baseline !== undefined && spec.baseline !== id) {
        for (const run of okRuns) {
          const b = raw.runs.find(
            (r) => r.caseId === caseId && r.contender === spec.baseline && r.round === run.round && !r.error,
          );
          if (b?.result) ratios.push(rateOf(run.result!, spec.scenario) / rateOf(b.result, spec.scenario));
        }
      }
      const rate = (r: RunResult): number => rateOf(r, spec?.scenario);
      const bound =
        spec?.concurrency !== undefined && spec.delayMs !== undefined
          ? (spec.concurrency * 1000) / spec.delayMs
          : undefined;
      const cell: CellSummary = {
        caseId,
        contender: id,
        runs: runs.length,
        errors,
        notes,
        ...(caseId === 'latency'
          ? {
              latencyMs: {
                p50: stat(ok.map((r) => r.latency?.['p50'] ?? NaN)) ?? { median: NaN, min: NaN, max: NaN },
                p99: stat(ok.map((r) => r.latency?.['p99'] ?? NaN)) ?? { median: NaN, min: NaN, max: NaN },
                p999: stat(ok.map((r) => r.latency?.['p999'] ?? NaN)) ?? { median: NaN, min: NaN, max: NaN },
              },
              ...optional('joinMs', stat(ok.map((r) => r.joinMs))),
            }
          : {
              ...optional('recordsPerSecond', stat(ok.map(rate))),
              ...optional('mbPerSecond', stat(ok.map((r) => r.bytes / 1000 / rateWindowMs(r, spec?.scenario)))),
              ...optional(
                'cpuMicrosPerRecord',
                stat(ok.map((r) => (r.records > 0 ? (r.cpuSeconds * 1e6) / r.records : NaN))),
              ),
              ...optional('peakRssMB', stat(ok.map((r) => r.peakRssMB))),
              ...optional('joinMs', stat(ok.map((r) => r.joinMs))),
              ...optional('firstRecordMs', stat(ok.map((r) => r.firstRecordMs))),
              ...optional('vsBaseline', stat(ratios)),
              ...optional('vsLittle', bound === undefined ? undefined : stat(ok.map((r) => rate(r) / bound))),
            }),
      };
      cells.push(cell);
    }
  }
  return { ...raw, cells };
}

// ---------------------------------------------------------------------------------------------

const fmtRate = (x: number): string =>
  x >= 10_000 ? `${(x / 1000).toFixed(1)}k` : x >= 1000 ? `${(x / 1000).toFixed(2)}k` : x.toFixed(0);
const latencyCell = (x: Stat | undefined): string =>
  x === undefined ? '—' : `${x.median.toFixed(0)} (${x.min.toFixed(0)}–${x.max.toFixed(0)})`;
const pct = (x: number): string => `${(x * 100).toFixed(0)}%`;

function mdTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map(line)].join('\n');
}

export function cellOf(result: MatrixResult, caseId: string, contender: string): CellSummary | undefined {
  return result.cells.find((c) => c.caseId === caseId && c.contender === contender);
}

/** The headline table: throughput cases × contenders, ratios to the baseline within a round. */
export function headlineTable(result: MatrixResult): string {
  const cases = result.cases.filter((c) => c.scenario === 'consume' || c.scenario === 'passthrough');
  const who = result.contenders.filter((k) => cases.some((c) => cellOf(result, c.id, k.id) !== undefined));
  const rows = cases.map((c) => [
    c.title,
    ...who.map((k) => {
      const cell = cellOf(result, c.id, k.id);
      if (cell === undefined) return '—';
      if (cell.recordsPerSecond === undefined) return `failed`;
      const rss = cell.peakRssMB === undefined ? '' : `, ${String(Math.round(cell.peakRssMB.median))} MB`;
      if (c.baseline === k.id) return `**1.00** (${fmtRate(cell.recordsPerSecond.median)}/s${rss})`;
      return cell.vsBaseline === undefined
        ? `${fmtRate(cell.recordsPerSecond.median)}/s`
        : `${cell.vsBaseline.median.toFixed(2)} (${rss.slice(2)})`;
    }),
  ]);
  return mdTable(['scenario', ...who.map((k) => k.label)], rows);
}

export function matrixMarkdown(result: MatrixResult, stem: string, full: boolean): string {
  const out: string[] = [];
  const m = result.machine;
  out.push(
    `# Benchmark matrix (${result.profile})`,
    '',
    `Written by \`pnpm --filter @rxkafka/benchmarks ${full ? 'bench:full' : 'bench'}\` (benchmarks/src/matrix/run.ts). ` +
      `Every contender runs as its own process against the same single-node KRaft broker on the same 2-core machine, ` +
      `${String(result.rounds)} rounds, contenders interleaved and the order rotated each round, a fresh consumer group per run reading from the earliest offset. ` +
      'Values are medians over the rounds; ratios are taken within a round (same moment, same load) and then the median is shown. ' +
      "The window runs from the partition assignment (each client's own event) to the last record done (delivered and handed to the commit path); " +
      "process start, connect and group join are \"join ms\" and not in the window. CPU is the whole process (all threads, librdkafka's and the JVM's included) over the window; peak RSS is the process's VmHWM.",
    '',
    `- date ${m.date}, commit \`${m.commit}\`${m.dirty ? ' (uncommitted changes in the tree)' : ''}; rxkafka measured from ${m.target === 'dist' ? 'compiled dist/' : 'sources via tsx'}`,
    `- node ${m.node}, ${String(m.cpus)} × ${m.cpuModel}, ${String(m.memoryGiB)} GiB; **1-min load average ${m.loadAverage.join(' → ')}** (start → end; other engineers' test suites and brokers shared the machine)`,
    '',
    '## Throughput: ratio to the fair raw node-rdkafka loop in the same round',
    '',
    "Cells: records/s ÷ the baseline's records/s in the same round (median), and peak RSS. Baseline (bold): the fair raw loop for passthrough, the raw consume loop for consume only.",
    '',
    headlineTable(result),
    '',
    `![throughput by contender and scenario](${stem}-throughput.svg)`,
    '',
  );

  const io = result.cases.filter((c) => c.scenario === 'io' && c.id.startsWith('io-'));
  if (io.length > 0) {
    const who = result.contenders.filter((k) => io.some((c) => cellOf(result, c.id, k.id) !== undefined));
    out.push(
      "## I/O-bound handlers: share of the Little's-law bound (concurrency ÷ latency)",
      '',
      'A handler that awaits a timer; consume → handler → commit (no produce); 12 partitions, 1,000 keys. ' +
        'Cells: records/s ÷ (concurrency ÷ delay), median of rounds. Rates run from the first record handed to the handler to the last one done: ' +
        "Little's law bounds a steady state, and the time from assignment to the first record (`first ms` below; about 110 ms for every librdkafka " +
        'client reading a new group, of which 100 ms is a fixed backoff in librdkafka, docs/decisions.md 51) would otherwise weigh a tenth of a 1 s run. ' +
        'A run far below the bound is cut after its `maxMs` and counts what it finished.',
      '',
      mdTable(
        ['case', 'bound (records/s)', ...who.map((k) => k.label)],
        io.map((c) => [
          c.title,
          fmtRate(((c.concurrency ?? 0) * 1000) / (c.delayMs ?? 1)),
          ...who.map((k) => {
            const cell = cellOf(result, c.id, k.id);
            return cell?.vsLittle === undefined
              ? '—'
              : `${pct(cell.vsLittle.median)} (${fmtRate(cell.recordsPerSecond?.median ?? NaN)}/s)`;
          }),
        ]),
      ),
      '',
      `![throughput against concurrency beside Little's law](${stem}-concurrency.svg)`,
      '',
    );
  }

  const keys = result.cases.filter((c) => c.id.startsWith('keys-'));
  if (keys.length > 0) {
    const who = result.contenders.filter((k) => keys.some((c) => cellOf(result, c.id, k.id) !== undefined));
    const keyCounts = [...new Set(keys.map((c) => c.keys))];
    out.push(
      '## Key mode: per-key ordering against unordered, same concurrency',
      '',
      `I/O ${String(keys[0]?.delayMs ?? '')} ms, concurrency ${String(keys[0]?.concurrency ?? '')}, 12 partitions. Cells: key-mode records/s ÷ the same contender's unordered records/s (medians), and key mode's share of the Little's-law bound.`,
      '',
      mdTable(
        ['keys', ...who.map((k) => k.label)],
        keyCounts.map((count) => [
          count.toLocaleString('en-US'),
          ...who.map((k) => {
            const key = cellOf(result, `keys-${String(count)}-key`, k.id);
            const un = cellOf(result, `keys-${String(count)}-unordered`, k.id);
            if (key?.recordsPerSecond === undefined || un?.recordsPerSecond === undefined) return '—';
            return `${(key.recordsPerSecond.median / un.recordsPerSecond.median).toFixed(2)} (${pct(key.vsLittle?.median ?? NaN)} of bound)`;
          }),
        ]),
      ),
      '',
    );
  }

  const lat = result.cells.filter((c) => c.caseId === 'latency');
  if (lat.length > 0) {
    out.push(
      '## End-to-end latency at half the maximum rate',
      '',
      (result.latencyRun === undefined
        ? ''
        : `Measured in a separate latency-only run right after the matrix (${result.latencyRun.date}, 1-min load average ${result.latencyRun.loadAverage.join(' → ')}), at rates from the matrix run. `) +
        "Each contender at half its own median passthrough rate (12 × 100 B), capped at half the fair raw loop's (the driver and the observer share the 2 cores and cannot keep up with the Go contender's ~400k/s). A driver in the orchestrator produces 100 B records stamped with the time (12 partitions, 1,000 keys), " +
        "the contender passes them through, an observer consumer measures stamp → arrival on the output topic: the same driver and observer for everyone, on the same 2 cores. Median (min–max) of the rounds, in ms: on this shared machine one round's latency swings by 10× or more with the background load.",
      '',
      mdTable(
        ['contender', 'rate (records/s)', 'p50', 'p99', 'p999', 'note'],
        lat.map((c) => [
          result.contenders.find((k) => k.id === c.contender)?.label ?? c.contender,
          fmtRate(result.latencyRates[c.contender] ?? NaN),
          latencyCell(c.latencyMs?.p50),
          latencyCell(c.latencyMs?.p99),
          latencyCell(c.latencyMs?.p999),
          c.errors.length > 0 ? c.errors.join('; ').slice(0, 120) : (c.notes[0] ?? ''),
        ]),
      ),
      '',
    );
  }

  const stall = result.cells.filter((c) => c.caseId === 'stall');
  if (stall.length > 0) {
    const spec = result.cases.find((c) => c.id === 'stall');
    out.push(
      '## Memory with a stalled handler and a large backlog',
      '',
      `${spec?.title ?? ''}: the handler never settles; peak RSS of the whole process ${String((spec?.stallMs ?? 0) / 1000)} s after the first record.`,
      '',
      mdTable(
        ['contender', 'peak RSS (MB)', 'records handed to the handler'],
        stall.map((c) => [
          result.contenders.find((k) => k.id === c.contender)?.label ?? c.contender,
          c.peakRssMB === undefined ? (c.errors[0] ?? '—').slice(0, 80) : String(Math.round(c.peakRssMB.median)),
          c.notes[0] ?? '',
        ]),
      ),
      '',
    );
  }

  out.push(
    '## Every run: medians (min–max)',
    '',
    mdTable(
      ['case', 'contender', 'records/s', 'MB/s', 'CPU µs/record', 'peak RSS MB', 'join ms', 'first ms', 'ratio'],
      result.cells
        .filter((c) => c.caseId !== 'latency' && c.caseId !== 'stall')
        .map((c) => [
          c.caseId,
          c.contender,
          c.recordsPerSecond === undefined
            ? `failed: ${(c.errors[0] ?? '').slice(0, 80)}`
            : `${fmtRate(c.recordsPerSecond.median)} (${fmtRate(c.recordsPerSecond.min)}–${fmtRate(c.recordsPerSecond.max)})`,
          c.mbPerSecond?.median.toFixed(1) ?? '—',
          c.cpuMicrosPerRecord?.median.toFixed(1) ?? '—',
          c.peakRssMB === undefined ? '—' : String(Math.round(c.peakRssMB.median)),
          c.joinMs === undefined ? '—' : String(Math.round(c.joinMs.median)),
          c.firstRecordMs === undefined ? '—' : String(Math.round(c.firstRecordMs.median)),
          c.vsBaseline !== undefined
            ? `${c.vsBaseline.median.toFixed(2)} (${c.vsBaseline.min.toFixed(2)}–${c.vsBaseline.max.toFixed(2)})`
            : c.vsLittle !== undefined
              ? `${pct(c.vsLittle.median)} of bound`
              : '—',
        ]),
    ),
    '',
    '## Contenders',
    '',
    ...result.contenders.map((k) => `- **${k.label}** (\`${k.id}\`): ${k.describe}`),
    ...Object.entries(result.skipped).map(([id, why]) => `- \`${id}\`: not run: ${why}`),
    '',
  );
  const failures = result.cells.filter((c) => c.errors.length > 0);
  if (failures.length > 0) {
    out.push(
      '## Failed runs',
      '',
      ...failures.map((c) => `- ${c.caseId} / ${c.contender}: ${c.errors.join('; ').slice(0, 300)}`),
      '',
    );
  }
  return out.join('\n');
}
