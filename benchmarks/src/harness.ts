/**
 * Shared benchmark plumbing: interleaved repeated runs, summaries, machine info and result files.
 *
 * Timings on a small, shared machine are noisy, so every suite runs its arms round-robin
 * (one run of each arm per round, the order rotated every round) and reports the median and
 * the min/max over the rounds, plus ratios computed within each round.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** benchmarks/results, whatever the current directory. */
export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');
const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** What the framework code under test is: tsc's output (what users run) or the TypeScript sources through tsx. */
export type Target = 'dist' | 'source';

const SOURCE_CONDITION = '@rxkafka/source';

function runsOnSources(): boolean {
  return process.execArgv.some((arg) => arg.includes(SOURCE_CONDITION));
}

export function currentTarget(): Target {
  return runsOnSources() ? 'source' : 'dist';
}

/**
 * Makes the benchmark measure the compiled packages, as users run them.
 *
 * The package scripts start node with `--conditions=@rxkafka/source --import tsx`, which loads the
 * packages' TypeScript sources through tsx. tsx compiles with esbuild's `keepNames`, which wraps every
 * function and class expression in `__name(fn, "name")` (an `Object.defineProperty` call): each closure
 * a hot path creates per record then costs a property definition. That made runChain measure ~2.5×
 * slower than the same code compiled by tsc, an artifact of the dev loader, not of rxkafka.
 *
 * So, unless BENCH_TARGET=source, a process started on the sources rebuilds the packages (`tsc -b`,
 * incremental) and re-runs the same script in a child without the condition: `@rxkafka/*` then resolve
 * to `dist/` (the bench files themselves still go through tsx; none of their closures is per record).
 * @return Only in the process that should run the benchmark; the parent exits with the child's status.
 */
export function ensureCompiledTarget(): void {
  if (!runsOnSources() || process.env['BENCH_TARGET'] === 'source') return;
  const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const packages = ['core', 'testing', 'kafka'].map((name) => join(REPO_ROOT, 'packages', name));
  console.log('building the packages (tsc -b) to benchmark their compiled output; BENCH_TARGET=source skips this');
  const build = spawnSync(process.execPath, [tsc, '-b', ...packages], { stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
  const execArgv: string[] = [];
  for (let i = 0; i < process.execArgv.length; i++) {
    const arg = process.execArgv[i] ?? '';
    if (arg.includes(SOURCE_CONDITION)) continue;
    if ((arg === '--conditions' || arg === '-C') && (process.execArgv[i + 1] ?? '').includes(SOURCE_CONDITION)) {
      i++;
      continue;
    }
    execArgv.push(arg);
  }
  const child = spawnSync(process.execPath, [...execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_TARGET: 'dist' },
  });
  process.exit(child.status ?? 1);
}

/** An integer from the environment, or the default. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw.replaceAll('_', ''));
  if (!Number.isInteger(value) || value <= 0)
    throw new RangeError(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return value;
}

/** A semicolon-separated filter of arm names from the environment; `undefined` runs every arm. */
export function envList(name: string): readonly string[] | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  return raw
    .split(';')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

// A full GC between runs keeps one arm's garbage from being collected on the next arm's clock.
setFlagsFromString('--expose-gc');
const gcFn: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
export function collectGarbage(): void {
  if (typeof gcFn === 'function') (gcFn as () => void)();
}

export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  return { median, min: sorted[0] ?? Number.NaN, max: sorted[sorted.length - 1] ?? Number.NaN };
}

/** Rounds for JSON: results files stay small and diffable. */
export function round(value: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function roundSummary(s: Summary, digits = 0): Summary {
  return { median: round(s.median, digits), min: round(s.min, digits), max: round(s.max, digits) };
}

/** One timed run of one arm: how many records were handled in how many milliseconds. */
export interface Sample {
  readonly records: number;
  readonly ms: number;
}

export interface Arm<C> {
  readonly name: string;
  /** Runs the arm once over `records` records and reports the measured span. */
  readonly run: (records: number, round: number, context: C) => Promise<Sample>;
}

/**
 * Runs `rounds` measured rounds of every arm, after one warm-up round of `warmupRecords` (none if 0).
 * Arms run round-robin and the order rotates each round, so a burst of background load
 * hits different arms in different rounds rather than always the same one.
 * @return Samples per arm name, measured rounds only, in round order.
 */
export async function runRounds<C>(
  arms: readonly Arm<C>[],
  options: {
    readonly records: number;
    readonly warmupRecords: number;
    readonly rounds: number;
    readonly context: C;
    readonly log: (line: string) => void;
  },
): Promise<Map<string, Sample[]>> {
  const samples = new Map<string, Sample[]>(arms.map((arm) => [arm.name, []]));
  for (let round = options.warmupRecords > 0 ? 0 : 1; round <= options.rounds; round++) {
    const warmup = round === 0;
    const records = warmup ? options.warmupRecords : options.records;
    for (let i = 0; i < arms.length; i++) {
      const arm = arms[(i + round) % arms.length];
      if (arm === undefined) continue;
      collectGarbage();
      const sample = await arm.run(records, round, options.context);
      if (sample.records !== records) {
        throw new Error(`${arm.name}: handled ${String(sample.records)} records, expected ${String(records)}`);
      }
      options.log(
        `  ${warmup ? 'warm-up' : `round ${String(round)}`}  ${arm.name.padEnd(40)} ${formatRate(ratePerSecond(sample)).padStart(11)} rec/s  ${microsPerRecord(
          sample,
        ).toFixed(3)} µs/rec`,
      );
      if (!warmup) samples.get(arm.name)?.push(sample);
    }
  }
  return samples;
}

const CHILD_ENV = 'BENCH_CHILD';
const SAMPLE_PREFIX = 'BENCH_SAMPLE ';

/** What a parent asks an isolated child run to do. */
export interface ChildRequest {
  readonly arm: string;
  readonly records: number;
  readonly warmupRecords: number;
}

/** Set in a child started by `runIsolated`. */
export function childRequest(): ChildRequest | undefined {
  const raw = process.env[CHILD_ENV];
  return raw === undefined || raw === '' ? undefined : (JSON.parse(raw) as ChildRequest);
}

/** The child's answer: one line on stdout that the parent picks out. */
export function reportSample(sample: Sample): void {
  process.stdout.write(`${SAMPLE_PREFIX}${JSON.stringify(sample)}\n`);
}

/**
 * Runs one arm in a fresh node process (same flags), which warms it up and then measures it once.
 *
 * Isolation matters for in-memory arms: they share RxJS, and V8's inline caches in RxJS's hot paths
 * (Subscriber.next, OperatorSubscriber, mergeInternals) go polymorphic once several pipelines have run in
 * one process. In a trial, the same runChain build measured 1.1 µs/record when it ran first in a process
 * and 4.4 µs/record after two other variants: an order effect that would swamp the differences measured.
 */
export function runIsolated(scriptUrl: string, request: ChildRequest): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(scriptUrl)], {
      env: { ...process.env, [CHILD_ENV]: JSON.stringify(request) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.once('error', reject);
    child.once('close', (code) => {
      const line = stdout.split('\n').find((l) => l.startsWith(SAMPLE_PREFIX));
      if (code !== 0 || line === undefined) {
        reject(
          new Error(`${request.arm}: child exited with ${String(code)} and no sample; stdout: ${stdout.slice(-500)}`),
        );
        return;
      }
      resolve(JSON.parse(line.slice(SAMPLE_PREFIX.length)) as Sample);
    });
  });
}

export const ratePerSecond = (s: Sample): number => (s.records / s.ms) * 1000;
export const microsPerRecord = (s: Sample): number => (s.ms * 1000) / s.records;

/** Per-round ratio of two arms' samples, e.g. cost(rxkafka) / cost(baseline). */
export function roundRatios(
  samples: Map<string, Sample[]>,
  numerator: string,
  denominator: string,
  metric: (s: Sample) => number,
): number[] {
  const a = samples.get(numerator) ?? [];
  const b = samples.get(denominator) ?? [];
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x !== undefined && y !== undefined) ratios.push(metric(x) / metric(y));
  }
  return ratios;
}

export function formatRate(perSecond: number): string {
  return Math.round(perSecond).toLocaleString('en-US');
}

export interface MachineInfo {
  readonly date: string;
  /** `dist`: the packages as compiled by tsc; `source`: their TypeScript through tsx (slower, see ensureCompiledTarget). */
  readonly target: Target;
  readonly commit: string;
  readonly dirty: boolean;
  readonly node: string;
  readonly v8: string;
  readonly platform: string;
  readonly cpuModel: string;
  readonly cpus: number;
  readonly memoryGiB: number;
  /** 1-minute load average when the suite started and ended: > 0 on an idle machine means contention. */
  readonly loadAverage: readonly number[];
}

function git(args: readonly string[]): string {
  try {
    return execFileSync('git', [...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

export function machineInfo(loadAtStart: number): MachineInfo {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    target: currentTarget(),
    commit: git(['rev-parse', '--short', 'HEAD']),
    dirty: git(['status', '--porcelain', '--untracked-files=no']) !== '',
    node: process.version,
    v8: process.versions.v8,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cpus: cpus.length,
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    loadAverage: [round(loadAtStart, 2), round(os.loadavg()[0] ?? 0, 2)],
  };
}

export function loadNow(): number {
  return os.loadavg()[0] ?? 0;
}

export function writeResult(name: string, data: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${name}.json`);
  writeFileSync(path, `${JSON.stringify(data, null, 2)}\n`);
  return path;
}

export function writeMarkdown(name: string, markdown: string): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${name}.md`);
  writeFileSync(path, markdown.endsWith('\n') ? markdown : `${markdown}\n`);
  return path;
}

export function machineMarkdown(info: MachineInfo): string {
  return [
    `- date: ${info.date}, commit \`${info.commit}\`${info.dirty ? ' (with uncommitted changes)' : ''}; packages measured: ${
      info.target === 'dist' ? 'compiled `dist/` (tsc)' : 'TypeScript sources through tsx (BENCH_TARGET=source)'
    }`,
    `- node ${info.node} (V8 ${info.v8}), ${info.platform}`,
    `- ${String(info.cpus)} × ${info.cpuModel}, ${String(info.memoryGiB)} GiB; 1-min load average ${info.loadAverage.join(' → ')} (start → end)`,
  ].join('\n');
}

/** A markdown table from a header row and data rows. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map(line)].join('\n');
}

/** "median (min–max)" */
export function spread(s: Summary, format: (n: number) => string): string {
  return `${format(s.median)} (${format(s.min)}–${format(s.max)})`;
}

/** True when the module is the script node was started with. */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  return (
    fileURLToPath(moduleUrl) === entry || fileURLToPath(moduleUrl).replace(/\.ts$/, '') === entry.replace(/\.ts$/, '')
  );
}
