/**
 * The benchmark matrix: every contender as its own process, against one real broker, in one run,
 * interleaved per round (the order rotated each round); medians of rounds; ratios taken within a round.
 *
 *   pnpm --filter @rxkafka/benchmarks bench        quick profile (a few minutes)
 *   pnpm --filter @rxkafka/benchmarks bench:full   every scenario
 *
 * Environment: KAFKA_BROKERS (use this cluster instead of starting one), BENCH_ROUNDS, BENCH_CONTENDERS
 * and BENCH_SCENARIOS (`;`-separated ids to keep), BENCH_SCALE (multiplies record counts), BENCH_OUT
 * (result file stem, default `matrix` / `matrix-quick`), BENCH_NODE_ARGS (extra flags for the Node
 * contenders, e.g. `--cpu-prof`), BENCH_MAX_UNCOMMITTED (the rx-window contender's window, default 4096) and BENCH_MAX_HELD_BACK (its
 * maxHeldBack, default the library's), BENCH_RX_BASELINE (another built checkout whose defaults run as
 * `rx-baseline`, over the whole I/O curve; BENCH_RX_BASELINE_VARIANT another of its variants, e.g.
 * `tuned`), BENCH_IO_SECONDS (an I/O run's length at the Little's-law
 * bound, default 1 s full / 1.5 s quick; a run is cut at 3 s full / 5 s quick).
 *
 * Writes results/<stem>.json, results/<stem>.md and results/<stem>-throughput.svg,
 * results/<stem>-concurrency.svg. See benchmarks/README.md for the method.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Kafka from 'node-rdkafka';
import type { Message } from 'node-rdkafka';
import { createTopics, produceRecords, type PlainRecord } from '@rxkafka/kafka/admin';
import { startKafkaBroker, type KafkaBroker } from '@rxkafka/testing';
import {
  ensureCompiledTarget,
  envList,
  loadNow,
  machineInfo,
  RESULTS_DIR,
  writeMarkdown,
  writeResult,
} from '../harness.js';
import { connectClient, RESULT_PREFIX, type RunConfig, type RunResult, type Scenario } from './common.js';
import {
  matrixMarkdown,
  rateOf,
  summarise,
  type CaseSpec,
  type MatrixRaw,
  type MatrixResult,
  type RunRecord,
} from './report.js';
import { concurrencySvg, throughputSvg } from './svg.js';

/** Writes results/<stem>.json, .md and the two charts. */
function writeOutputs(raw: MatrixRaw): void {
  const summary = summarise(raw);
  const json = writeResult(stem, summary);
  const md = writeMarkdown(stem, matrixMarkdown(summary, stem, raw.profile === 'full'));
  writeFileSync(join(RESULTS_DIR, `${stem}-throughput.svg`), throughputSvg(summary));
  writeFileSync(join(RESULTS_DIR, `${stem}-concurrency.svg`), concurrencySvg(summary));
  console.log(`wrote ${json}, ${md} and the SVG charts`);
}

const HERE = dirname(fileURLToPath(import.meta.url));
const BENCH_DIR = join(HERE, '..', '..');
const full = process.argv.includes('--full') || process.env['BENCH_PROFILE'] === 'full';
const scale = Number(process.env['BENCH_SCALE'] ?? '1');
const rounds = Number(process.env['BENCH_ROUNDS'] ?? 3);
const stem = process.env['BENCH_OUT'] ?? (full ? 'matrix' : 'matrix-quick');
const onlyContenders = envList('BENCH_CONTENDERS');
const onlyScenarios = envList('BENCH_SCENARIOS');
const log = (line: string): void => {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
};

if (process.argv.includes('--summarise')) {
  // Results from the snapshot of a run that was interrupted (or to re-render after a report change).
  const snapshotPath = join(RESULTS_DIR, `${stem}.tmp.json`);
  let raw = JSON.parse(readFileSync(snapshotPath, 'utf8')) as MatrixRaw;
  // BENCH_MERGE_LATENCY=<stem>: the latency rounds of a latency-only run replace this run's.
  const merge = process.env['BENCH_MERGE_LATENCY'];
  if (merge !== undefined && merge !== '') {
    const other = JSON.parse(readFileSync(join(RESULTS_DIR, `${merge}.tmp.json`), 'utf8')) as MatrixRaw;
    raw = {
      ...raw,
      latencyRates: other.latencyRates,
      runs: [...raw.runs.filter((r) => r.caseId !== 'latency'), ...other.runs.filter((r) => r.caseId === 'latency')],
      latencyRun: { date: other.machine.date, loadAverage: other.machine.loadAverage },
    };
  }
  // The snapshot's load average ends at its last run.
  writeOutputs(raw);
  process.exit(0);
}

ensureCompiledTarget();

// ---------------------------------------------------------------------------------------------
// Contenders

interface Contender {
  readonly id: string;
  readonly label: string;
  readonly describe: string;
  readonly scenarios: ReadonlySet<Scenario>;
  /** Why it cannot run here, or undefined. */
  readonly missing?: () => string | undefined;
  readonly command: (config: RunConfig) => readonly string[];
}

const node =
  (file: string, dir = HERE) =>
  (config: RunConfig): readonly string[] => [
    process.execPath,
    ...nodeArgs,
    '--import',
    'tsx',
    join(dir, file),
    JSON.stringify(config),
  ];
// BENCH_RX_BASELINE: the root of another rxkafka checkout (built), whose defaults run as `rx-baseline`.
const rxBaseline = process.env['BENCH_RX_BASELINE'];
// BENCH_RX_BASELINE_VARIANT: which of rx.ts's variants the baseline runs (default `defaults`; `tuned` for unordered).
const rxBaselineVariant = process.env['BENCH_RX_BASELINE_VARIANT'] ?? 'defaults';
// BENCH_NODE_ARGS: extra node flags for the Node contenders, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
const nodeArgs = (process.env['BENCH_NODE_ARGS'] ?? '').split(' ').filter((arg) => arg !== '');
const GO_BIN = join(BENCH_DIR, '.bin', 'go-workerpool');
const STREAMS_CP = join(BENCH_DIR, 'streams', 'target');
const ALL: ReadonlySet<Scenario> = new Set(['consume', 'passthrough', 'io', 'stall', 'latency']);
const CKJS_BUILT = join(
  BENCH_DIR,
  'node_modules',
  '@confluentinc',
  'kafka-javascript',
  'build',
  'Release',
  'confluent-kafka-javascript.node',
);

const CONTENDERS: readonly Contender[] = [
  {
    id: 'raw',
    label: 'raw node-rdkafka',
    describe:
      'the fair at-least-once loop: consume(500), one produce per record with a delivery report, commit of completed batches every 1000 records or 1 s',
    scenarios: new Set(['passthrough', 'io', 'stall', 'latency']),
    command: (c) => node('raw.ts')({ ...c, variant: 'fair' }),
  },
  {
    id: 'raw-child',
    label: 'raw node-rdkafka, producer in a child process',
    describe: 'the fair loop with its producer in a child process (IPC, advanced serialization), batches of 500',
    scenarios: new Set(['passthrough']),
    command: (c) => node('raw.ts')({ ...c, variant: 'child' }),
  },
  {
    id: 'raw-txn',
    label: 'raw node-rdkafka, transactions',
    describe:
      'consume(500), produce inside a transaction of up to 10,000 records or 200 ms whose commit also commits the consumed positions; delivery reports for failures only',
    scenarios: new Set(['passthrough']),
    command: (c) => node('raw.ts')({ ...c, variant: 'txn' }),
  },
  {
    id: 'raw-consume',
    label: 'raw node-rdkafka consume loop',
    describe: 'its best consume-only loop: consume(1000), count, commit every 1 s',
    scenarios: new Set(['consume']),
    command: (c) => node('raw.ts')({ ...c, variant: 'consume' }),
  },
  {
    id: 'raw-flowing',
    label: 'raw node-rdkafka flowing',
    describe: 'flowing mode (consume() with data events) and a handler that never settles',
    scenarios: new Set(['stall']),
    command: (c) => node('raw.ts')({ ...c, variant: 'flowing' }),
  },
  {
    id: 'rx',
    label: 'rxkafka defaults',
    describe:
      "fromKafka → runChain → toKafka / acknowledge() with every option at its default (ordering 'key', concurrency 16, maxInFlight 4096); the io scenario sets concurrency and ordering",
    scenarios: ALL,
    command: (c) => node('rx.ts')({ ...c, variant: 'defaults' }),
  },
  // Only when asked for: a change measured against its parent in the same rounds.
  ...(rxBaseline === undefined
    ? []
    : [
        {
          id: 'rx-baseline',
          label: 'rxkafka baseline checkout',
          describe: `the rx contender of the checkout at ${rxBaseline} (built), variant ${rxBaselineVariant}`,
          scenarios: ALL,
          command: (c: RunConfig) =>
            node('rx.ts', join(rxBaseline, 'benchmarks', 'src', 'matrix'))({ ...c, variant: rxBaselineVariant }),
        },
      ]),
  {
    id: 'rx-window',
    label: 'rxkafka other replay bounds',
    describe:
      'the defaults with maxUncommitted 4096 (= maxInFlight; default 16,384), or BENCH_MAX_UNCOMMITTED, and maxHeldBack BENCH_MAX_HELD_BACK if set: what other replay bounds cost',
    scenarios: new Set(['consume', 'passthrough', 'io']),
    command: (c) => node('rx.ts')({ ...c, variant: 'window' }),
  },
  {
    id: 'rx-txn',
    label: 'rxkafka transactions',
    describe:
      "toKafka's transactions (records delivered by transaction commits, at most 50 ms each, instead of one delivery report each) and maxInFlight 16,384; otherwise the defaults",
    scenarios: new Set(['passthrough', 'latency']),
    command: (c) => node('rx.ts')({ ...c, variant: 'txn' }),
  },
  {
    id: 'rx-reports',
    label: 'rxkafka delivery reports',
    describe:
      "the defaults with toKafka's deliveryBatches: false, so one delivery report per record confirms it (the default before docs/decisions.md 55)",
    scenarios: new Set(['passthrough', 'latency']),
    command: (c) => node('rx.ts')({ ...c, variant: 'reports' }),
  },
  {
    id: 'rx-tuned',
    label: 'rxkafka tuned',
    describe:
      "ordering 'unordered' and concurrency 64 (consume, passthrough, latency); maxInFlight max(4096, 2 × concurrency) in the io scenario",
    scenarios: ALL,
    command: (c) => node('rx.ts')({ ...c, variant: 'tuned' }),
  },
  {
    id: 'kafkajs',
    label: 'KafkaJS 2.2.4',
    describe: 'eachBatch, partitionsConsumedConcurrently = partitions, one producer.send per batch, autocommit',
    scenarios: ALL,
    command: node('kafkajs.ts'),
  },
  {
    id: 'platformatic',
    label: '@platformatic/kafka 1.35',
    describe: 'consumer stream, autocommit off, batched producer.send, commit of done records every 1000 or 1 s',
    scenarios: ALL,
    command: node('platformatic.ts'),
  },
  {
    id: 'ckjs',
    label: '@confluentinc/kafka-javascript 1.10',
    describe:
      'the same fair loop as raw on its node-rdkafka-compatible API (its own librdkafka 2.15.1, built with CKJS_LINKING=dynamic)',
    scenarios: new Set(['consume', 'passthrough', 'latency']),
    missing: () => (existsSync(CKJS_BUILT) ? undefined : 'its native addon is not built (see benchmarks/README.md)'),
    command: (c) => node('raw.ts')({ ...c, variant: c.scenario === 'consume' ? 'consume' : 'fair', lib: 'ckjs' }),
  },
  {
    id: 'go',
    label: 'Go worker pool (franz-go)',
    describe:
      'a poll loop feeding a pool of `concurrency` goroutines (64 outside io), a context.Context per record, key mode routes by key hash; commits contiguous done offsets every 1 s',
    scenarios: ALL,
    missing: () =>
      existsSync(GO_BIN) ? undefined : `${GO_BIN} not built (cd benchmarks/go && go build -o ../.bin/go-workerpool .)`,
    command: (c) => [GO_BIN, JSON.stringify(c)],
  },
  {
    id: 'streams',
    label: 'Kafka Streams 4.1',
    describe:
      'at_least_once, commit.interval.ms 1000, num.stream.threads = min(concurrency, partitions) in io (1 otherwise); done = producer acknowledgements (interceptor)',
    scenarios: ALL,
    missing: () =>
      existsSync(join(STREAMS_CP, 'classes')) ? undefined : 'not built (cd benchmarks/streams && mvn -q -B package)',
    command: (c) => [
      'java',
      '-Xms256m',
      '-Xmx1g',
      '-cp',
      `${join(STREAMS_CP, 'classes')}:${join(STREAMS_CP, 'lib', '*')}`,
      'rxkafka.bench.StreamsBench',
      JSON.stringify(c),
    ],
  },
];

// ---------------------------------------------------------------------------------------------
// Scenarios

type Case = CaseSpec & { readonly contenders?: readonly string[] };

interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
  readonly records: number;
  readonly valueBytes: number;
  readonly keys: number;
}

const n = (x: number): number => Math.max(1, Math.round(x * scale));
const runId = `matrix-${String(Date.now())}`;
const topics = new Map<string, TopicSpec>();
const topic = (id: string, partitions: number, records: number, valueBytes: number, keys: number): TopicSpec => {
  const name = `${runId}.${id}`;
  const spec = { name, partitions, records, valueBytes, keys };
  topics.set(name, spec);
  return spec;
};

const T4K = topic('p3x4k', 3, n(full ? 60_000 : 25_000), 4096, 1000);
const T100 = topic('p12x100', 12, n(full ? 300_000 : 100_000), 100, 1000);
const IO_RECORDS = n(full ? 150_000 : 100_000);
const TIO = topic('io', 12, IO_RECORDS, 100, 1000);
const KEY_COUNTS = full ? [1, 10, 100, 10_000] : [];
const TKEYS = new Map(KEY_COUNTS.map((k) => [k, topic(`keys${String(k)}`, 12, IO_RECORDS, 100, k)]));
const TSTALL = topic('stall', 12, n(full ? 1_000_000 : 300_000), 100, 1000);

const cases: Case[] = [];
const base = (t: TopicSpec) => ({ topic: t.name, partitions: t.partitions, valueBytes: t.valueBytes, keys: t.keys });
cases.push({
  id: 'consume-12x100',
  scenario: 'consume',
  title: 'consume only, 12 partitions × 100 B',
  ...base(T100),
  records: T100.records,
  baseline: 'raw-consume',
});
if (full)
  cases.push({
    id: 'consume-3x4k',
    scenario: 'consume',
    title: 'consume only, 3 partitions × 4 KiB',
    ...base(T4K),
    records: T4K.records,
    baseline: 'raw-consume',
  });
cases.push(
  {
    id: 'passthrough-3x4k',
    scenario: 'passthrough',
    title: 'passthrough, 3 partitions × 4 KiB',
    ...base(T4K),
    records: T4K.records,
    baseline: 'raw',
  },
  {
    id: 'passthrough-12x100',
    scenario: 'passthrough',
    title: 'passthrough, 12 partitions × 100 B',
    ...base(T100),
    records: T100.records,
    baseline: 'raw',
  },
);
/** Records for an io run: about `seconds` at the Little's-law bound, within the topic. */
const ioRecords = (concurrency: number, delayMs: number, seconds: number): number =>
  Math.min(IO_RECORDS, Math.max(50, Math.round(((concurrency * 1000) / delayMs) * seconds)));
const ioConcurrency = full ? [1, 16, 64, 256, 1024] : [256];
const ioDelays = full ? [1, 10] : [10];
const ioSeconds = Number(process.env['BENCH_IO_SECONDS'] ?? (full ? 1 : 1.5));
/**
 * The full profile keeps near 35 minutes: these contenders (and a baseline checkout, when given) run the
 * whole curve; the others only at 10 ms and concurrency 64 and 1024 (and in the quick profile's one case).
 */
const IO_CURVE = ['rx', 'rx-tuned', 'go', 'raw', 'rx-baseline'];
const ioWide = (delayMs: number, concurrency: number): boolean =>
  !full || (delayMs === 10 && (concurrency === 64 || concurrency === 1024));
for (const delayMs of ioDelays)
  for (const concurrency of ioConcurrency)
    for (const ordering of ['unordered', 'key'] as const) {
      cases.push({
        id: `io-${String(delayMs)}ms-c${String(concurrency)}-${ordering}`,
        scenario: 'io',
        title: `I/O ${String(delayMs)} ms, concurrency ${String(concurrency)}, ${ordering}`,
        ...base(TIO),
        records: ioRecords(concurrency, delayMs, ioSeconds),
        delayMs,
        concurrency,
        ordering,
        // A contender far below the bound would take long: cut its window and count what it did.
        maxMs: full ? 3000 : 5000,
        ...(ioWide(delayMs, concurrency) ? {} : { contenders: IO_CURVE }),
      });
    }
const KEY_CONCURRENCY = 256;
const KEY_DELAY = 1;
for (const [keys, t] of TKEYS)
  for (const ordering of ['unordered', 'key'] as const)
    cases.push({
      id: `keys-${String(keys)}-${ordering}`,
      scenario: 'io',
      title: `key mode: ${String(keys)} keys, I/O ${String(KEY_DELAY)} ms, concurrency ${String(KEY_CONCURRENCY)}, ${ordering}`,
      ...base(t),
      records: ioRecords(KEY_CONCURRENCY, KEY_DELAY, ioSeconds),
      delayMs: KEY_DELAY,
      concurrency: KEY_CONCURRENCY,
      ordering,
      maxMs: 3000,
      contenders: ['rx', 'rx-tuned', 'go'],
    });
cases.push({
  id: 'stall',
  scenario: 'stall',
  title: `stalled handler, ${TSTALL.records.toLocaleString('en-US')}-record backlog`,
  ...base(TSTALL),
  records: 0,
  stallMs: full ? 10_000 : 5000,
});

// ---------------------------------------------------------------------------------------------
// Running one contender on one case

interface Child {
  readonly done: Promise<{ result?: RunResult; error?: string }>;
  /** SIGTERM, then SIGKILL after 3 s. */
  readonly stop: () => void;
}

function startChild(argv: readonly string[], timeoutMs: number): Child {
  const [cmd, ...args] = argv;
  const child = spawn(cmd ?? '', args, { cwd: BENCH_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
  const done = new Promise<{ result?: RunResult; error?: string }>((resolve) => {
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      resolve({ error: String(error) });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      if (line === undefined) {
        resolve({
          error: `exit ${String(code ?? signal)}, no result; stderr: ${stderr.trim().split('\n').slice(-3).join(' | ')}`,
        });
        return;
      }
      const result = JSON.parse(line.slice(RESULT_PREFIX.length)) as RunResult;
      resolve(code === 0 ? { result } : { result, error: `exit ${String(code ?? signal)}` });
    });
  });
  return {
    done,
    stop: () => {
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 3000).unref();
    },
  };
}

const runChild = (argv: readonly string[], timeoutMs: number): Promise<{ result?: RunResult; error?: string }> =>
  startChild(argv, timeoutMs).done;

function configFor(c: Case, contender: string, round: number, brokers: string, outTopic?: string): RunConfig {
  return {
    brokers,
    scenario: c.scenario,
    topic: c.topic,
    ...(outTopic === undefined ? {} : { outTopic }),
    group: `${runId}.${c.id}.${contender}.${String(round)}`,
    records: c.records,
    partitions: c.partitions,
    ...(c.delayMs === undefined ? {} : { delayMs: c.delayMs }),
    ...(c.concurrency === undefined ? {} : { concurrency: c.concurrency }),
    ...(c.ordering === undefined ? {} : { ordering: c.ordering }),
    ...(c.stallMs === undefined ? {} : { stallMs: c.stallMs }),
    ...(c.maxMs === undefined ? {} : { maxMs: c.maxMs }),
  };
}

// ---------------------------------------------------------------------------------------------
// Latency: a driver produces timestamped records at a fixed rate; an observer consumer measures
// produce → output arrival. The same driver and observer for every contender.

const { KafkaConsumer, Producer } = Kafka;

const nowMicros = (): number => (performance.timeOrigin + performance.now()) * 1000;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
}

const LATENCY_PARTITIONS = 12;
const LATENCY_ROUNDS = Number(process.env['BENCH_LATENCY_ROUNDS'] ?? Math.min(rounds, 2));
const latencyTopics = (contender: string, round: number): { inTopic: string; outTopic: string } => ({
  inTopic: `${runId}.lat.${contender}.${String(round)}.in`,
  outTopic: `${runId}.lat.${contender}.${String(round)}.out`,
});

async function latencyRun(
  brokers: string,
  contender: Contender,
  round: number,
  rate: number,
  seconds: number,
): Promise<RunRecord> {
  const started = performance.now();
  // Created at the start of the run: a consumer that subscribes to a topic created a moment before may
  // not see it until its next metadata refresh.
  const { inTopic, outTopic } = latencyTopics(contender.id, round);
  const partitions = LATENCY_PARTITIONS;
  const producer = new Producer({
    'bootstrap.servers': brokers,
    'linger.ms': 1,
    'enable.idempotence': true,
    'queue.buffering.max.messages': 1_000_000,
  });
  const observer = new KafkaConsumer(
    {
      'bootstrap.servers': brokers,
      'group.id': `${runId}.observer.${contender.id}.${String(round)}`,
      'enable.auto.commit': false,
      'fetch.wait.max.ms': 5,
      'fetch.queue.backoff.ms': 1,
      'topic.metadata.refresh.interval.ms': 1000,
    },
    { 'auto.offset.reset': 'earliest' },
  );
  await Promise.all([connectClient(producer), connectClient(observer)]);
  producer.setPollInterval(10);
  const latencies: number[] = [];
  // An object, not a `let`: the callback sets it, which the loops below must see.
  const trip = { primed: false };
  observer.on('data', (m: Message) => {
    const value = m.value;
    if (value === null || value.length < 9) return;
    if (value[8] === 1) latencies.push((nowMicros() - value.readDoubleBE(0)) / 1000);
    else trip.primed = true;
  });
  observer.subscribe([outTopic]);
  observer.consume();

  const config: RunConfig = {
    brokers,
    scenario: 'latency',
    topic: inTopic,
    outTopic,
    group: `${runId}.lat.${contender.id}.${String(round)}`,
    records: 0,
    partitions,
  };
  const child = startChild(contender.command(config), (seconds + 120) * 1000);
  let seq = 0;
  const value = (phase: number): Buffer => {
    const b = Buffer.alloc(100, 120);
    b.writeDoubleBE(nowMicros(), 0);
    b[8] = phase;
    return b;
  };
  const produce = (phase: number): void => {
    seq++;
    producer.produce(inTopic, null, value(phase), `key-${String(seq % 1000)}`);
  };
  let error: string | undefined;
  // Prime until one record made the whole trip: contender and observer have joined.
  const primeDeadline = performance.now() + 60_000;
  const joinStart = performance.now();
  while (!trip.primed && performance.now() < primeDeadline) {
    produce(0);
    await sleep(50);
  }
  const joinMs = performance.now() - joinStart;
  let sent = 0;
  if (!trip.primed) error = 'never primed (no output within 60 s)';
  else {
    const t0 = performance.now();
    const total = Math.round(rate * seconds);
    while (sent < total) {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
      while (sent < due) {
        produce(1);
        sent++;
      }
      await sleep(1);
    }
    const waitUntil = performance.now() + 10_000;
    while (latencies.length < sent && performance.now() < waitUntil) await sleep(20);
  }
  child.stop();
  observer.unsubscribe();
  await Promise.all([
    new Promise((resolve) => observer.disconnect(resolve)),
    new Promise((resolve) => producer.disconnect(resolve)),
  ]);
  // The contender runs until stopped; its own result line is not needed.
  const ended = await child.done;
  if (!trip.primed && ended.error !== undefined) error = `${error ?? ''}; contender: ${ended.error}`;
  const sorted = [...latencies].sort((a, b) => a - b);
  const result: RunResult & { latency: Record<string, number> } = {
    records: latencies.length,
    bytes: latencies.length * 100,
    joinMs: Math.round(joinMs),
    firstRecordMs: 0,
    windowMs: seconds * 1000,
    cpuSeconds: NaN,
    peakRssMB: NaN,
    note: `rate ${String(Math.round(rate))}/s for ${String(seconds)} s; ${String(sent - latencies.length)} of ${String(sent)} not seen within 10 s`,
    latency: {
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
      p999: percentile(sorted, 0.999),
      max: sorted.at(-1) ?? NaN,
    },
  };
  return {
    round,
    caseId: 'latency',
    contender: contender.id,
    result,
    ...(error === undefined ? {} : { error }),
    wallMs: performance.now() - started,
  };
}

// ---------------------------------------------------------------------------------------------
// Data

function* recordsOf(spec: TopicSpec): Generator<PlainRecord> {
  const filler = 'x'.repeat(spec.valueBytes);
  for (let i = 0; i < spec.records; i++) {
    const key = `key-${String(i % spec.keys)}`;
    const head = `${String(i)}:`;
    yield { topic: spec.name, key, value: head + filler.slice(head.length) };
  }
}

// ---------------------------------------------------------------------------------------------
// Main

const loadAtStart = loadNow();
const existing = process.env['KAFKA_BROKERS'];
let broker: KafkaBroker | undefined;
let brokers: string;
if (existing !== undefined && existing !== '') brokers = existing;
else {
  log('starting a broker (startKafkaBroker)…');
  broker = await startKafkaBroker();
  brokers = broker.brokers;
}
log(
  `broker ${brokers}; profile ${full ? 'full' : 'quick'}, ${String(rounds)} rounds, 1-min load ${loadAtStart.toFixed(2)}`,
);

const contenders = CONTENDERS.filter((c) => onlyContenders === undefined || onlyContenders.includes(c.id));
const skipped: Record<string, string> = {};
const active = contenders.filter((c) => {
  const why = c.missing?.();
  if (why !== undefined) skipped[c.id] = why;
  return why === undefined;
});
for (const [id, why] of Object.entries(skipped)) log(`skipping ${id}: ${why}`);
const activeCases = cases.filter(
  (c) =>
    onlyScenarios === undefined ||
    onlyScenarios.some((s) => c.id === s || c.id.startsWith(`${s}-`) || c.scenario === s),
);
const wantLatency = onlyScenarios === undefined ? full : onlyScenarios.includes('latency');
if (process.env['BENCH_DRY'] === '1') {
  // The plan only: runs per round by case.
  let total = 0;
  for (const c of activeCases) {
    const who = active.filter(
      (k) => k.scenarios.has(c.scenario) && (c.contenders === undefined || c.contenders.includes(k.id)),
    );
    total += who.length;
    log(`${c.id}: ${String(c.records)} records, ${who.map((k) => k.id).join(' ')}`);
  }
  log(`${String(total)} runs per round × ${String(rounds)} rounds${wantLatency ? ' + latency' : ''}`);
  process.exit(0);
}

const records: RunRecord[] = [];
const latencyRates: Record<string, number> = {};
const rawResult = (): MatrixRaw => ({
  suite: 'matrix',
  profile: full ? 'full' : 'quick',
  machine: machineInfo(loadAtStart),
  rounds,
  contenders: active.map((k) => ({ id: k.id, label: k.label, describe: k.describe })),
  skipped,
  cases: activeCases,
  latencyRates,
  runs: records,
});
/** Everything so far, after every run: `--summarise` turns an interrupted run into results. */
const snapshot = (): void => {
  writeFileSync(join(RESULTS_DIR, `${stem}.tmp.json`), JSON.stringify(rawResult()));
};
try {
  const needed = new Set(activeCases.map((c) => c.topic));
  const outTopics = active.map((c) => `${runId}.out.${c.id}`);
  await createTopics(brokers, [
    ...[...topics.values()].filter((t) => needed.has(t.name)).map((t) => ({ topic: t.name, partitions: t.partitions })),
    ...outTopics.map((t) => ({ topic: t, partitions: 12 })),
    ...(wantLatency
      ? active
          .filter((k) => k.scenarios.has('latency'))
          .flatMap((k) =>
            Array.from({ length: LATENCY_ROUNDS }, (_, round) => {
              const { inTopic, outTopic } = latencyTopics(k.id, round);
              return [
                { topic: inTopic, partitions: LATENCY_PARTITIONS },
                { topic: outTopic, partitions: LATENCY_PARTITIONS },
              ];
            }).flat(),
          )
      : []),
  ]);
  for (const spec of topics.values()) {
    if (!needed.has(spec.name)) continue;
    const t0 = performance.now();
    await produceRecords(brokers, recordsOf(spec));
    log(
      `produced ${spec.records.toLocaleString('en-US')} × ${String(spec.valueBytes)} B to ${spec.name} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
  }

  for (let round = 0; round < rounds; round++) {
    log(`round ${String(round + 1)}/${String(rounds)} (load ${loadNow().toFixed(2)})`);
    for (const c of activeCases) {
      const who = active.filter(
        (k) => k.scenarios.has(c.scenario) && (c.contenders === undefined || c.contenders.includes(k.id)),
      );
      const shift = who.length === 0 ? 0 : round % who.length;
      const order = [...who.slice(shift), ...who.slice(0, shift)];
      for (const k of order) {
        const t0 = performance.now();
        const config = configFor(c, k.id, round, brokers, `${runId}.out.${k.id}`);
        const timeout = (c.maxMs ?? 0) + (c.stallMs ?? 0) + 240_000;
        const { result, error } = await runChild(k.command(config), timeout);
        const wallMs = performance.now() - t0;
        records.push({
          round,
          caseId: c.id,
          contender: k.id,
          ...(result === undefined ? {} : { result }),
          ...(error === undefined ? {} : { error }),
          wallMs,
        });
        const rate = result ? rateOf(result, c.scenario) : NaN;
        log(
          `  ${c.id} ${k.id}: ${error ?? 'ok'}${
            result
              ? ` — ${Math.round(rate).toLocaleString('en-US')}/s, ${String(result.peakRssMB)} MB, join ${String(result.joinMs)} ms${result.note ? ` (${result.note})` : ''}`
              : ''
          }`,
        );
        snapshot();
      }
    }
  }

  // Latency at half the maximum rate: the maximum is the contender's own median passthrough rate
  // (12 × 100 B) in this run, capped at the fair raw loop's: the driver and the observer share the
  // 2 cores, and cannot produce and read at the ~400k/s the Go contender reaches (in a trial they fell
  // seconds behind, and the next contenders' latencies paid for the backlog).
  // BENCH_LATENCY_FROM=<stem> takes the rates from results/<stem>.json (for a latency-only run).
  if (wantLatency) {
    const fallback = Number(process.env['BENCH_LATENCY_MAX_RATE'] ?? 20_000);
    const who = active.filter((k) => k.scenarios.has('latency'));
    const from = process.env['BENCH_LATENCY_FROM'];
    const fromCells =
      from === undefined || from === ''
        ? undefined
        : (JSON.parse(readFileSync(join(RESULTS_DIR, `${from}.json`), 'utf8')) as MatrixResult).cells;
    const maxOf = (id: string): number | undefined => {
      if (fromCells !== undefined)
        return fromCells.find((c) => c.caseId === 'passthrough-12x100' && c.contender === id)?.recordsPerSecond?.median;
      const rates = records
        .filter((r) => r.caseId === 'passthrough-12x100' && r.contender === id && r.result && !r.error)
        .map((r) => rateOf(r.result!, 'passthrough'))
        .sort((a, b) => a - b);
      return rates[Math.floor(rates.length / 2)];
    };
    const rawMax = maxOf('raw') ?? fallback;
    for (const k of who) latencyRates[k.id] = Math.round(Math.min(maxOf(k.id) ?? fallback, rawMax) / 2);
    const seconds = 5;
    const latencyRounds = LATENCY_ROUNDS;
    for (let round = 0; round < latencyRounds; round++) {
      log(`latency round ${String(round + 1)}/${String(latencyRounds)}`);
      const shift = round % Math.max(1, who.length);
      for (const k of [...who.slice(shift), ...who.slice(0, shift)]) {
        const r = await latencyRun(brokers, k, round, latencyRates[k.id] ?? fallback / 2, seconds);
        records.push(r);
        snapshot();
        const l = (r.result as { latency?: Record<string, number> } | undefined)?.latency;
        log(
          `  latency ${k.id}: ${r.error ?? 'ok'} p50 ${l?.['p50']?.toFixed(1) ?? '?'} ms, p99 ${l?.['p99']?.toFixed(1) ?? '?'} ms, p999 ${l?.['p999']?.toFixed(1) ?? '?'} ms (${r.result?.note ?? ''})`,
        );
      }
    }
  }

  writeOutputs(rawResult());
} finally {
  await broker?.stop();
}
