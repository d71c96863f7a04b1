/**
 * Core overhead: runChain (3 no-op handlers, concurrency 64) against a bare RxJS `mergeMap` with
 * the same concurrency, both fed by the same in-memory source. No Kafka, no I/O: this is the CPU
 * cost rxkafka adds per record, on one core (one JavaScript thread).
 *
 * Sources (each arm states which one it uses; a ratio only ever compares arms on the same source):
 * - `memory`: `fromMemory` from @rxkafka/testing over a synchronous generator, with maxInFlight-based
 *   credit like fromKafka (1000). It builds a fresh context per record (`createContext`, key Buffer,
 *   state object), so its own cost is inside every arm; the `memory: source only` arm shows that floor.
 * - `prebuilt`: `from(array)` of contexts built with `createContext` before the clock starts, so the
 *   arms measure operator cost alone. No credit, so only synchronous chains can use it (an async
 *   chain would overflow runChain's 10,000-record wait queue by design).
 *
 * Every measured run is a fresh node process (runIsolated) that warms its arm up first, so arms do not
 * share JIT state; arms are interleaved round by round and ratios are taken within a round.
 *
 *   pnpm --filter @rxkafka/benchmarks bench:core
 *   BENCH_CORE_RECORDS=200000 BENCH_RUNS=3 BENCH_CORE_ARMS='memory: runChain key;memory: rxjs mergeMap(of, 64)' pnpm ... bench:core
 */
import { from, mergeMap, of, map, tap, type Observable } from 'rxjs';
import {
  createContext,
  handler,
  named,
  runChain,
  type Context,
  type Handler,
  type Outcome,
  type RunChainOptions,
} from '@rxkafka/core';
import { fromMemory, toMemory, type MemoryRecord } from '@rxkafka/testing';
import {
  childRequest,
  collectGarbage,
  ensureCompiledTarget,
  reportSample,
  runIsolated,
  type ChildRequest,
  envInt,
  envList,
  formatRate,
  isMain,
  loadNow,
  machineInfo,
  machineMarkdown,
  microsPerRecord,
  ratePerSecond,
  round,
  roundRatios,
  roundSummary,
  runRounds,
  spread,
  summarize,
  table,
  writeMarkdown,
  writeResult,
  type Arm,
  type MachineInfo,
  type Sample,
  type Summary,
} from './harness.js';

interface Payload {
  readonly id: number;
}
type State = Record<string, unknown>;
type Ctx = Context<Payload, State>;

const CONCURRENCY = 64;
const MAX_IN_FLIGHT = 1000;
const KEYS = 1000;
const PARTITIONS = 4;
const TIMEOUT_MS = 5000;

const keys = Array.from({ length: KEYS }, (_, i) => `key-${String(i)}`);

/** The synchronous generator behind the `memory` source: keyed records over 4 partitions. */
function* generate(count: number): Generator<MemoryRecord<Payload>> {
  for (let i = 0; i < count; i++) yield { key: keys[i % KEYS] ?? null, value: { id: i }, partition: i % PARTITIONS };
}

const memorySource = (count: number): Observable<Ctx> =>
  fromMemory<Payload, State>(generate(count), { topic: 'bench', maxInFlight: MAX_IN_FLIGHT });

/** Contexts built ahead of time, for the `prebuilt` source. Sync no-op chains never mutate them, so rounds reuse them. */
function prebuild(count: number): Ctx[] {
  const contexts: Ctx[] = new Array<Ctx>(count);
  for (let i = 0; i < count; i++) {
    contexts[i] = createContext<Payload, State>({
      record: { id: i },
      source: {
        topic: 'bench',
        partition: i % PARTITIONS,
        offset: Math.floor(i / PARTITIONS),
        key: Buffer.from(keys[i % KEYS] ?? ''),
        value: null,
        headers: [],
        timestamp: 0,
      },
      state: {},
    });
  }
  return contexts;
}

/**
 * The bare arms bypass rxkafka's sink, so they release the memory source's credit themselves.
 * `ack` is not part of the public Context type (sinks reach it through the outcome), hence the cast;
 * a plain property call, so the baseline pays no more for it than rxkafka's sink does.
 */
type Ackable = Ctx & { readonly ack: () => void };
const ackContext = tap<Ctx>((ctx) => {
  (ctx as Ackable).ack();
});

const noop = (): void => undefined;
const syncChain: Handler<Payload, State>[] = [handler('h1', noop), handler('h2', noop), handler('h3', noop)];
// A real async function, as users write them (a fresh promise per call).
// eslint-disable-next-line @typescript-eslint/require-await
const asyncNoop = async (): Promise<void> => undefined;
const asyncChain: Handler<Payload, State>[] = [
  handler('a1', asyncNoop),
  handler('a2', asyncNoop),
  handler('a3', asyncNoop),
];
const operatorChain: Handler<Payload, State>[] = [
  named(
    'o1',
    map((ctx: Ctx) => ctx),
  ),
  named(
    'o2',
    map((ctx: Ctx) => ctx),
  ),
  named(
    'o3',
    map((ctx: Ctx) => ctx),
  ),
];

/** Subscribes, counts the emissions (only `ok` outcomes for rxkafka arms) and times until complete. */
function drive<T>(pipeline: Observable<T>, counts: (value: T) => boolean): Promise<Sample> {
  return new Promise((resolve, reject) => {
    let records = 0;
    const started = performance.now();
    pipeline.subscribe({
      next: (value) => {
        if (counts(value)) records++;
      },
      error: reject,
      complete: () => {
        resolve({ records, ms: performance.now() - started });
      },
    });
  });
}
const everything = (): boolean => true;
const isOk = (outcome: Outcome<Payload, State>): boolean => outcome.kind === 'ok';

interface CoreContext {
  readonly prebuilt: Ctx[];
}

type SourceKind = 'memory' | 'prebuilt';
type Group = 'sync' | 'async';

interface CoreArm {
  readonly name: string;
  /** Runs once over `records` records (in the isolated child) and reports the measured span. */
  readonly measure: (records: number, context: CoreContext) => Promise<Sample>;
  readonly source: SourceKind;
  readonly group: Group;
  readonly description: string;
  /** The arm this one's cost is compared with (same source, same kind of work). */
  readonly baseline?: string;
}

function chainArm(
  name: string,
  source: SourceKind,
  group: Group,
  chain: Handler<Payload, State>[],
  options: RunChainOptions<Payload, State>,
  baseline: string,
  description: string,
): CoreArm {
  return {
    name,
    source,
    group,
    baseline,
    description,
    measure: (records, context) => {
      const operator = runChain(chain, { concurrency: CONCURRENCY, ...options });
      const input: Observable<Ctx> =
        source === 'memory' ? memorySource(records) : from(context.prebuilt.slice(0, records));
      return drive(input.pipe(operator, toMemory()), isOk);
    },
  };
}

const ARMS: readonly CoreArm[] = [
  {
    name: 'memory: source only',
    source: 'memory',
    group: 'sync',
    description: 'fromMemory → ack: the cost floor of the shared source',
    measure: (records) => drive(memorySource(records).pipe(ackContext), everything),
  },
  {
    name: 'memory: rxjs mergeMap(of, 64)',
    source: 'memory',
    group: 'sync',
    description: 'fromMemory → mergeMap(x => of(x), 64) → ack',
    measure: (records) =>
      drive(
        memorySource(records).pipe(
          mergeMap((ctx) => of(ctx), CONCURRENCY),
          ackContext,
        ),
        everything,
      ),
  },
  chainArm(
    'memory: runChain key',
    'memory',
    'sync',
    syncChain,
    {},
    'memory: rxjs mergeMap(of, 64)',
    "3 sync no-op handler()s, ordering 'key' (the default)",
  ),
  chainArm(
    'memory: runChain partition',
    'memory',
    'sync',
    syncChain,
    { ordering: 'partition' },
    'memory: rxjs mergeMap(of, 64)',
    "ordering 'partition'",
  ),
  chainArm(
    'memory: runChain unordered',
    'memory',
    'sync',
    syncChain,
    { ordering: 'unordered' },
    'memory: rxjs mergeMap(of, 64)',
    "ordering 'unordered'",
  ),
  chainArm(
    'memory: runChain key + timeout',
    'memory',
    'sync',
    syncChain,
    { timeout: TIMEOUT_MS },
    'memory: rxjs mergeMap(of, 64)',
    `ordering 'key', timeout ${String(TIMEOUT_MS)} ms (a deadline timer per record)`,
  ),
  chainArm(
    'memory: runChain key, operator handlers',
    'memory',
    'sync',
    operatorChain,
    {},
    'memory: rxjs mergeMap(of, 64)',
    '3 plain RxJS map() operators via named() instead of handler(): one subscription each',
  ),
  {
    name: 'memory: rxjs mergeMap async',
    source: 'memory',
    group: 'async',
    description: 'fromMemory → mergeMap(async ctx => { await ×3 no-op }, 64) → ack',
    measure: (records) =>
      drive(
        memorySource(records).pipe(
          mergeMap(async (ctx) => {
            await asyncNoop();
            await asyncNoop();
            await asyncNoop();
            return ctx;
          }, CONCURRENCY),
          ackContext,
        ),
        everything,
      ),
  },
  chainArm(
    'memory: runChain async key',
    'memory',
    'async',
    asyncChain,
    {},
    'memory: rxjs mergeMap async',
    "3 async no-op handler()s, ordering 'key'",
  ),
  chainArm(
    'memory: runChain async unordered',
    'memory',
    'async',
    asyncChain,
    { ordering: 'unordered' },
    'memory: rxjs mergeMap async',
    "3 async no-op handler()s, ordering 'unordered'",
  ),
  {
    name: 'prebuilt: rxjs mergeMap(of, 64)',
    source: 'prebuilt',
    group: 'sync',
    description: 'from(contexts) → mergeMap(x => of(x), 64)',
    measure: (records, context) =>
      drive(from(context.prebuilt.slice(0, records)).pipe(mergeMap((ctx) => of(ctx), CONCURRENCY)), everything),
  },
  chainArm(
    'prebuilt: runChain key',
    'prebuilt',
    'sync',
    syncChain,
    {},
    'prebuilt: rxjs mergeMap(of, 64)',
    "3 sync no-op handler()s, ordering 'key'",
  ),
  chainArm(
    'prebuilt: runChain unordered',
    'prebuilt',
    'sync',
    syncChain,
    { ordering: 'unordered' },
    'prebuilt: rxjs mergeMap(of, 64)',
    "3 sync no-op handler()s, ordering 'unordered'",
  ),
];

export interface CoreArmResult {
  readonly name: string;
  readonly source: SourceKind;
  readonly description: string;
  readonly recordsPerSecond: Summary;
  readonly microsPerRecord: Summary;
  /** Per-run records/s, measured rounds in order. */
  readonly runs: readonly number[];
  readonly baseline?: string;
  /** µs/record of this arm ÷ µs/record of the baseline, per round. */
  readonly costVsBaseline?: Summary;
  /** µs/record this arm adds over its baseline, per round. */
  readonly addedMicrosPerRecord?: Summary;
}

export interface CoreResult {
  readonly suite: 'core';
  readonly machine: MachineInfo;
  readonly config: {
    readonly records: number;
    readonly warmupRecords: number;
    readonly rounds: number;
    readonly concurrency: number;
    readonly maxInFlight: number;
    readonly keys: number;
    readonly partitions: number;
  };
  readonly arms: readonly CoreArmResult[];
  readonly targets: {
    readonly recordsPerSecond: { readonly target: number; readonly measured: number; readonly met: boolean };
    readonly costVsMergeMap: { readonly target: number; readonly measured: number; readonly met: boolean };
  };
}

export async function runCoreBench(log: (line: string) => void = console.log): Promise<CoreResult> {
  const records = envInt('BENCH_CORE_RECORDS', 1_000_000);
  const rounds = envInt('BENCH_RUNS', 5);
  const warmupRecords = Math.min(records, envInt('BENCH_CORE_WARMUP', 200_000));
  const only = envList('BENCH_CORE_ARMS');
  const arms = only === undefined ? ARMS : ARMS.filter((arm) => only.includes(arm.name));
  if (arms.length === 0) throw new Error(`BENCH_CORE_ARMS matched no arm; arms: ${ARMS.map((a) => a.name).join(', ')}`);
  const loadAtStart = loadNow();
  log(
    `core: ${formatRate(records)} records × ${String(rounds)} rounds (+ warm-up of ${formatRate(warmupRecords)}), ${String(arms.length)} arms`,
  );

  // Every run is a fresh process that warms its arm up first (see runIsolated), so no shared warm-up round.
  const isolated: Arm<undefined>[] = arms.map((arm) => ({
    name: arm.name,
    run: (count) => runIsolated(import.meta.url, { arm: arm.name, records: count, warmupRecords }),
  }));
  const samples = await runRounds(isolated, { records, warmupRecords: 0, rounds, context: undefined, log });

  const results: CoreArmResult[] = arms.map((arm) => {
    const own = samples.get(arm.name) ?? [];
    const result: CoreArmResult = {
      name: arm.name,
      source: arm.source,
      description: arm.description,
      recordsPerSecond: roundSummary(summarize(own.map(ratePerSecond))),
      microsPerRecord: roundSummary(summarize(own.map(microsPerRecord)), 3),
      runs: own.map((s) => round(ratePerSecond(s))),
    };
    if (arm.baseline === undefined || !samples.has(arm.baseline)) return result;
    const cost = roundSummary(summarize(roundRatios(samples, arm.name, arm.baseline, microsPerRecord)), 2);
    const base = samples.get(arm.baseline) ?? [];
    const added: number[] = [];
    for (let i = 0; i < Math.min(own.length, base.length); i++) {
      const a = own[i];
      const b = base[i];
      if (a !== undefined && b !== undefined) added.push(microsPerRecord(a) - microsPerRecord(b));
    }
    return {
      ...result,
      baseline: arm.baseline,
      costVsBaseline: cost,
      addedMicrosPerRecord: roundSummary(summarize(added), 3),
    };
  });

  const headline = results.find((r) => r.name === 'memory: runChain key');
  const rate = headline?.recordsPerSecond.median ?? Number.NaN;
  const cost = headline?.costVsBaseline?.median ?? Number.NaN;
  return {
    suite: 'core',
    machine: machineInfo(loadAtStart),
    config: {
      records,
      warmupRecords,
      rounds,
      concurrency: CONCURRENCY,
      maxInFlight: MAX_IN_FLIGHT,
      keys: KEYS,
      partitions: PARTITIONS,
    },
    arms: results,
    targets: {
      recordsPerSecond: { target: 500_000, measured: rate, met: rate >= 500_000 },
      costVsMergeMap: { target: 2, measured: cost, met: cost <= 2 },
    },
  };
}

const ratio = (n: number): string => `${n.toFixed(2)}×`;
const micros = (n: number): string => n.toFixed(3);

export function coreMarkdown(result: CoreResult, heading = '##'): string {
  const { config, targets } = result;
  const rows = result.arms.map((arm) => [
    arm.name,
    spread(arm.recordsPerSecond, formatRate),
    spread(arm.microsPerRecord, micros),
    arm.costVsBaseline === undefined ? '—' : spread(arm.costVsBaseline, ratio),
    arm.addedMicrosPerRecord === undefined ? '—' : spread(arm.addedMicrosPerRecord, micros),
  ]);
  const met = (ok: boolean): string => (ok ? 'met' : '**missed**');
  return [
    `${heading} Core: runChain vs bare RxJS mergeMap (in memory, one core)`,
    '',
    `${formatRate(config.records)} records per run, ${String(config.rounds)} rounds; every run is a fresh node process that first warms its arm up with ${formatRate(config.warmupRecords)} records (so arms cannot pollute each other's JIT state); arms interleaved, order rotated each round. ` +
      `Concurrency ${String(config.concurrency)}; ${String(config.keys)} keys over ${String(config.partitions)} partitions. ` +
      "Values are median (min–max) over the rounds. Cost ratio = µs/record ÷ the baseline arm's µs/record in the same round " +
      '(sync arms vs `rxjs mergeMap(of, 64)`, async arms vs `rxjs mergeMap async`, on the same source).',
    '',
    `- \`memory\`: \`fromMemory\` (@rxkafka/testing) over a synchronous generator, credit maxInFlight ${String(config.maxInFlight)}; builds a context per record inside the clock (\`memory: source only\` shows that floor).`,
    '- `prebuilt`: `from(array)` of contexts made with `createContext` before the clock starts (sync chains only).',
    '',
    table(['arm', 'records/s', 'µs/record', 'cost vs baseline', 'added µs/record'], rows),
    '',
    `Targets (\`memory: runChain key\`): ≥ 500,000 records/s → ${formatRate(targets.recordsPerSecond.measured)} (${met(targets.recordsPerSecond.met)}); ` +
      `≤ 2× bare mergeMap → ${ratio(targets.costVsMergeMap.measured)} (${met(targets.costVsMergeMap.met)}).`,
    '',
    machineMarkdown(result.machine),
  ].join('\n');
}

/** In an isolated child: warm the arm up, collect garbage, measure once, report. */
async function runChildArm(request: ChildRequest): Promise<void> {
  const arm = ARMS.find((a) => a.name === request.arm);
  if (arm === undefined) throw new Error(`no core arm named ${JSON.stringify(request.arm)}`);
  const context: CoreContext = {
    prebuilt: arm.source === 'prebuilt' ? prebuild(Math.max(request.records, request.warmupRecords)) : [],
  };
  if (request.warmupRecords > 0) await arm.measure(request.warmupRecords, context);
  collectGarbage();
  reportSample(await arm.measure(request.records, context));
}

const child = childRequest();
if (child !== undefined && isMain(import.meta.url)) {
  await runChildArm(child);
} else if (isMain(import.meta.url)) {
  ensureCompiledTarget();
  const result = await runCoreBench();
  const json = writeResult('core', result);
  const md = writeMarkdown('core', coreMarkdown(result, '#'));
  console.log(`\n${coreMarkdown(result)}\n\nwrote ${json} and ${md}`);
}
