/**
 * End to end against a real Apache Kafka broker: rxkafka's pipeline against raw node-rdkafka
 * doing the same at-least-once work, in the same process and the same run.
 *
 * Every run reads a pre-produced topic (4 partitions, ~200 B JSON values, 1000 keys) from the start
 * with a fresh consumer group. The clock runs from the first record handed to JavaScript until every
 * record is done, so connecting and joining the group are not measured.
 *
 * - raw: KafkaConsumer in non-flowing mode, `consume(500, cb)` loop; per record one Producer.produce
 *   with delivery reports; once every report is in, one commitSync of the consumed positions.
 * - rxkafka: fromKafka → runChain([one handler emitting one output], concurrency 64, ordering 'key')
 *   → toKafka; done when toKafka has emitted every outcome (outputs delivered, record acknowledged;
 *   fromKafka commits every 1000 records during the run).
 * - consume only: the raw loop without producing, and fromKafka with each record acknowledged at once.
 *
 * Uses the broker in KAFKA_BROKERS, or starts one with startKafkaBroker() and stops it at the end.
 *
 *   node --conditions=@rxkafka/source --import tsx src/kafka.bench.ts
 *   BENCH_KAFKA_RECORDS=50000 BENCH_KAFKA_RUNS=3 KAFKA_BROKERS=127.0.0.1:9092 node ... src/kafka.bench.ts
 */
import Kafka from 'node-rdkafka';
import type { LibrdKafkaError, Message, TopicPartitionOffset } from 'node-rdkafka';
import { tap, type MonoTypeOperatorFunction, type Observable } from 'rxjs';
import { z } from 'zod';
import { handler, runChain, type ChainInput, type Outcome } from '@rxkafka/core';
import { fromKafka, toKafka, type KafkaSource, type Logger } from '@rxkafka/kafka';
import { createTopics, produceRecords, type PlainRecord } from '@rxkafka/kafka/admin';
import { startKafkaBroker, type KafkaBroker } from '@rxkafka/testing';
import { connectClient, sleep } from './matrix/common.js';
import {
  ensureCompiledTarget,
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

// node-rdkafka is CommonJS: in ESM only its default export is visible at runtime.
const { KafkaConsumer, Producer, CODES } = Kafka;

const PARTITIONS = 4;
const KEYS = 1000;
const VALUE_BYTES = 200;
const BATCH = 500;
const POLL_TIMEOUT_MS = 25;
const CONCURRENCY = 64;
/** A run that has not finished by then has hung: fail loudly rather than wait forever. */
const RUN_DEADLINE_MS = 300_000;

const Order = z.object({
  id: z.number().int(),
  customer: z.string(),
  amount: z.number(),
  currency: z.string(),
  note: z.string(),
});
type Order = z.infer<typeof Order>;
/** For the byte-level arms: no JSON, a trivial schema, so the arm measures the framework alone. */
const Bytes = z.custom<Buffer>((value) => Buffer.isBuffer(value), { error: 'a Buffer' });
const bytesDecoder = (value: Buffer | null): unknown => value;

function* inputRecords(topic: string, count: number): Generator<PlainRecord> {
  for (let i = 0; i < count; i++) {
    const customer = `customer-${String(i % KEYS).padStart(4, '0')}`;
    const head = { id: i, customer, amount: (i % 10_000) / 100, currency: 'EUR', note: '' };
    const pad = Math.max(0, VALUE_BYTES - JSON.stringify(head).length);
    yield { topic, key: customer, value: JSON.stringify({ ...head, note: 'x'.repeat(pad) }) };
  }
}

interface KafkaContext {
  readonly brokers: string;
  readonly runId: string;
  readonly records: number;
  readonly warmupRecords: number;
  readonly inputTopic: string;
  readonly warmupTopic: string;
  readonly rawOutput: string;
  readonly rxOutput: string;
}

const inputFor = (ctx: KafkaContext, records: number): string =>
  records === ctx.records ? ctx.inputTopic : ctx.warmupTopic;
const groupFor = (ctx: KafkaContext, arm: string, roundNo: number): string => `${ctx.runId}.${arm}.${String(roundNo)}`;

function withDeadline<T>(promise: Promise<T>, what: string, ms = RUN_DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`${what}: not done after ${String(ms)} ms`));
    }, ms);
  });
  return Promise.race([promise, deadline]).finally(() => {
    clearTimeout(timer);
  });
}

// ---------------------------------------------------------------------------------------------
// Raw node-rdkafka: the minimal honest at-least-once loop.

function disconnectClient(client: { disconnect: (cb: () => void) => unknown }): Promise<void> {
  return new Promise((resolve) => {
    client.disconnect(() => {
      resolve();
    });
  });
}

async function rawRun(ctx: KafkaContext, records: number, roundNo: number, forward: boolean): Promise<Sample> {
  const consumer = new KafkaConsumer(
    {
      'bootstrap.servers': ctx.brokers,
      'group.id': groupFor(ctx, forward ? 'raw' : 'raw-consume', roundNo),
      'client.id': 'bench-raw',
      'enable.auto.commit': false,
      // rxkafka sets it too: librdkafka's default 1 s back-off after a full fetch queue would stall the fetcher.
      'fetch.queue.backoff.ms': 5,
    },
    // Topic-level keys go here: node-rdkafka's default topic config would override them if set globally.
    { 'auto.offset.reset': 'earliest' },
  );
  const producer = forward
    ? new Producer({
        'bootstrap.servers': ctx.brokers,
        'client.id': 'bench-raw-producer',
        dr_cb: true,
        // The same producer settings toKafka uses.
        'enable.idempotence': true,
        'linger.ms': 5,
      })
    : undefined;
  let delivered = 0;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  producer?.on('delivery-report', (error: LibrdKafkaError | null | undefined) => {
    if (error) failure ??= new Error(`delivery: ${error.message}`);
    delivered++;
    if (delivered >= records) wake?.();
  });
  await Promise.all([connectClient(consumer), ...(producer === undefined ? [] : [connectClient(producer)])]);
  producer?.setPollInterval(5);
  consumer.setDefaultConsumeTimeout(POLL_TIMEOUT_MS);
  consumer.subscribe([inputFor(ctx, records)]);

  const consumeBatch = (): Promise<Message[]> =>
    new Promise((resolve, reject) => {
      consumer.consume(BATCH, (error: LibrdKafkaError | null | undefined, messages) => {
        if (error) reject(new Error(`consume: ${error.message}`));
        else resolve(messages);
      });
    });
  /** False when librdkafka's local queue is full. */
  const tryProduce = (message: Message): boolean => {
    try {
      producer?.produce(ctx.rawOutput, null, message.value, message.key, Date.now());
      return true;
    } catch (error) {
      if ((error as Partial<LibrdKafkaError>).code !== CODES.ERRORS.ERR__QUEUE_FULL) throw error;
      return false;
    }
  };

  const work = async (): Promise<Sample> => {
    const positions = new Map<number, number>();
    let consumed = 0;
    let started: number | undefined;
    while (consumed < records) {
      const messages = await consumeBatch();
      if (messages.length > 0) started ??= performance.now();
      for (const message of messages) {
        while (!tryProduce(message)) {
          producer?.poll();
          await sleep(5);
        }
        positions.set(message.partition, message.offset + 1);
        consumed++;
      }
      if (failure !== undefined) throw failure;
    }
    if (producer !== undefined && delivered < records) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        if (delivered >= records) resolve();
      });
    }
    if (failure !== undefined) throw failure;
    const offsets: TopicPartitionOffset[] = [...positions].map(([partition, offset]) => ({
      topic: inputFor(ctx, records),
      partition,
      offset,
    }));
    consumer.commitSync(offsets);
    return { records: consumed, ms: performance.now() - (started ?? performance.now()) };
  };
  try {
    return await withDeadline(work(), 'raw run');
  } finally {
    await Promise.all([disconnectClient(consumer), ...(producer === undefined ? [] : [disconnectClient(producer)])]);
  }
}

// ---------------------------------------------------------------------------------------------
// rxkafka

type Mode = 'bytes' | 'json' | 'consume';

/** The source gives contexts, whose `ack` only sinks reach (through outcomes); consume-only acks directly. */
function ackOf(input: object): () => void {
  const ack: unknown = Reflect.get(input, 'ack');
  if (typeof ack !== 'function') throw new TypeError('record has no ack()');
  return ack as () => void;
}

/** Source counters of each arm's last measured run, to explain its numbers (pauses, in-flight peak). */
const diagnostics = new Map<string, Record<string, number>>();

async function rxRun(
  ctx: KafkaContext,
  records: number,
  roundNo: number,
  mode: Mode,
  maxInFlight?: number,
): Promise<Sample> {
  const failures: string[] = [];
  const logger: Logger = {
    info: () => undefined,
    warn: () => undefined,
    error: (_object, message) => {
      failures.push(message);
    },
  };
  const label = `rx-${mode}${maxInFlight === undefined ? '' : `-${String(maxInFlight)}`}`;
  const groupId = groupFor(ctx, label, roundNo);
  const topics = [inputFor(ctx, records)];
  const rdkafka = { 'client.id': 'bench-rx' };
  let started: number | undefined;
  const firstRecord = <T>(): MonoTypeOperatorFunction<T> =>
    tap<T>(() => {
      started ??= performance.now();
    });

  let source: KafkaSource<Order, Record<string, never>> | KafkaSource<Buffer, Record<string, never>>;
  const limits = maxInFlight === undefined ? {} : { maxInFlight };
  let stream: Observable<unknown>;
  if (mode === 'json') {
    const s = fromKafka<Order, Record<string, never>>({
      brokers: ctx.brokers,
      groupId,
      topics,
      schema: Order,
      rdkafka,
      ...limits,
    });
    const forward = handler<Order, Record<string, never>>('forward', (c) => {
      c.emit({ topic: ctx.rxOutput, key: c.key, value: c.record });
    });
    source = s;
    stream = s.pipe(
      firstRecord(),
      runChain([forward], { concurrency: CONCURRENCY }),
      toKafka({ brokers: ctx.brokers, deadLetterTopic: false, logger }),
    );
  } else {
    const s = fromKafka<Buffer, Record<string, never>>({
      brokers: ctx.brokers,
      groupId,
      topics,
      schema: Bytes,
      decode: bytesDecoder,
      rdkafka,
      ...limits,
    });
    source = s;
    if (mode === 'consume') {
      stream = s.pipe(
        firstRecord(),
        tap((input: ChainInput<Buffer, Record<string, never>>) => {
          ackOf(input)();
        }),
      );
    } else {
      const forward = handler<Buffer, Record<string, never>>('forward', (c) => {
        c.emit({ topic: ctx.rxOutput, key: c.source.key, value: c.source.value });
      });
      stream = s.pipe(
        firstRecord(),
        runChain([forward], { concurrency: CONCURRENCY }),
        toKafka({ brokers: ctx.brokers, deadLetterTopic: false, logger }),
      );
    }
  }

  let settled = 0;
  let notOk = 0;
  let finished: number | undefined;
  let allDone!: () => void;
  const done = new Promise<void>((resolve) => (allDone = resolve));
  const completed = new Promise<void>((resolve, reject) => {
    stream.subscribe({
      next: (value) => {
        if (mode !== 'consume' && (value as Outcome<unknown, unknown>).kind !== 'ok') notOk++;
        if (++settled === records) {
          finished = performance.now();
          allDone();
        }
      },
      error: reject,
      complete: resolve,
    });
  });
  try {
    // The stream only errors on fatal conditions; race it so such an error ends the run at once.
    await withDeadline(
      Promise.race([done, completed.then(() => Promise.reject(new Error('stream completed early')))]),
      `rxkafka ${mode} run`,
    );
  } finally {
    // Graceful stop: final commit, stream completes, producer flushes and disconnects, consumer leaves.
    await source.stop();
    await withDeadline(completed, 'rxkafka shutdown', 60_000).catch((error: unknown) => {
      failures.push(String(error));
    });
  }
  const { stats } = source;
  diagnostics.set(label, {
    peakInFlight: stats.peakInFlight,
    pauses: stats.pauses,
    commits: stats.commits,
    commitErrors: stats.commitErrors,
    dropped: stats.dropped,
  });
  if (notOk > 0 || failures.length > 0) {
    throw new Error(`rxkafka ${mode} run: ${String(notOk)} records not ok; ${failures.slice(0, 3).join('; ')}`);
  }
  return { records: settled, ms: (finished ?? performance.now()) - (started ?? performance.now()) };
}

// ---------------------------------------------------------------------------------------------

interface KafkaArm extends Arm<KafkaContext> {
  readonly description: string;
  readonly baseline?: string;
}

const ARMS: readonly KafkaArm[] = [
  {
    name: 'raw: consume → produce → commit',
    description: 'node-rdkafka: consume(500) loop, one produce per record with delivery reports, commitSync at the end',
    run: (records, roundNo, ctx) => rawRun(ctx, records, roundNo, true),
  },
  {
    name: 'rxkafka: fromKafka → runChain → toKafka',
    description:
      "bytes in, bytes out (pass-through decoder, trivial schema); 1 sync handler, concurrency 64, ordering 'key'",
    baseline: 'raw: consume → produce → commit',
    run: (records, roundNo, ctx) => rxRun(ctx, records, roundNo, 'bytes'),
  },
  {
    name: 'rxkafka: same, maxInFlight 10,000',
    description:
      'the same pipeline with fromKafka maxInFlight 10,000 instead of the default 4096 (more records awaiting delivery reports)',
    baseline: 'raw: consume → produce → commit',
    run: (records, roundNo, ctx) => rxRun(ctx, records, roundNo, 'bytes', 10_000),
  },
  {
    name: 'rxkafka: same, JSON + zod',
    description: 'default JSON decoder + zod object schema in, the record re-serialised as JSON out',
    baseline: 'raw: consume → produce → commit',
    run: (records, roundNo, ctx) => rxRun(ctx, records, roundNo, 'json'),
  },
  {
    name: 'raw: consume only',
    description: 'node-rdkafka: consume(500) loop, commitSync at the end',
    run: (records, roundNo, ctx) => rawRun(ctx, records, roundNo, false),
  },
  {
    name: 'rxkafka: fromKafka consume only',
    description: 'fromKafka (pass-through decoder) with every record acknowledged as it arrives',
    baseline: 'raw: consume only',
    run: (records, roundNo, ctx) => rxRun(ctx, records, roundNo, 'consume'),
  },
];

export interface KafkaArmResult {
  readonly name: string;
  readonly description: string;
  readonly recordsPerSecond: Summary;
  readonly microsPerRecord: Summary;
  readonly runs: readonly number[];
  readonly baseline?: string;
  /** records/s of this arm ÷ records/s of the raw baseline, per round. */
  readonly throughputVsRaw?: Summary;
}

export interface KafkaResult {
  readonly suite: 'kafka';
  readonly machine: MachineInfo;
  readonly config: {
    readonly broker: 'started' | 'KAFKA_BROKERS';
    readonly records: number;
    readonly warmupRecords: number;
    readonly rounds: number;
    readonly partitions: number;
    readonly valueBytes: number;
    readonly keys: number;
    readonly batch: number;
    readonly concurrency: number;
  };
  readonly arms: readonly KafkaArmResult[];
  /** fromKafka's counters in each rxkafka arm's last run (keyed rx-<mode>[-<maxInFlight>]). */
  readonly sourceStats: Readonly<Record<string, Record<string, number>>>;
}

export async function runKafkaBench(log: (line: string) => void = console.log): Promise<KafkaResult> {
  const records = envInt('BENCH_KAFKA_RECORDS', 200_000);
  const rounds = envInt('BENCH_KAFKA_RUNS', envInt('BENCH_RUNS', 5));
  const warmupRecords = Math.min(records, envInt('BENCH_KAFKA_WARMUP', 20_000));
  const only = envList('BENCH_KAFKA_ARMS');
  const arms = only === undefined ? ARMS : ARMS.filter((arm) => only.includes(arm.name));
  if (arms.length === 0)
    throw new Error(`BENCH_KAFKA_ARMS matched no arm; arms: ${ARMS.map((a) => a.name).join(', ')}`);
  const loadAtStart = loadNow();

  const existing = process.env['KAFKA_BROKERS'];
  let broker: KafkaBroker | undefined;
  let brokers: string;
  if (existing !== undefined && existing !== '') {
    brokers = existing;
    log(`kafka: using KAFKA_BROKERS=${brokers}`);
  } else {
    log('kafka: starting a broker (startKafkaBroker)…');
    broker = await startKafkaBroker();
    brokers = broker.brokers;
    log(`kafka: broker at ${brokers}`);
  }
  try {
    const runId = `bench-${String(Date.now())}`;
    const ctx: KafkaContext = {
      brokers,
      runId,
      records,
      warmupRecords,
      inputTopic: `${runId}.in`,
      warmupTopic: `${runId}.warmup`,
      rawOutput: `${runId}.out.raw`,
      rxOutput: `${runId}.out.rx`,
    };
    await createTopics(
      brokers,
      [ctx.inputTopic, ctx.warmupTopic, ctx.rawOutput, ctx.rxOutput].map((topic) => ({
        topic,
        partitions: PARTITIONS,
      })),
    );
    const t0 = performance.now();
    await produceRecords(brokers, inputRecords(ctx.inputTopic, records));
    if (warmupRecords !== records) await produceRecords(brokers, inputRecords(ctx.warmupTopic, warmupRecords));
    log(
      `kafka: produced ${formatRate(records)} + ${formatRate(warmupRecords)} records in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    log(
      `kafka: ${formatRate(records)} records × ${String(rounds)} rounds (+ warm-up of ${formatRate(warmupRecords)}), ${String(arms.length)} arms`,
    );

    const samples = await runRounds(arms, { records, warmupRecords, rounds, context: ctx, log });
    const results: KafkaArmResult[] = arms.map((arm) => {
      const own = samples.get(arm.name) ?? [];
      const result: KafkaArmResult = {
        name: arm.name,
        description: arm.description,
        recordsPerSecond: roundSummary(summarize(own.map(ratePerSecond))),
        microsPerRecord: roundSummary(summarize(own.map(microsPerRecord)), 2),
        runs: own.map((s) => round(ratePerSecond(s))),
      };
      if (arm.baseline === undefined || !samples.has(arm.baseline)) return result;
      return {
        ...result,
        baseline: arm.baseline,
        throughputVsRaw: roundSummary(summarize(roundRatios(samples, arm.name, arm.baseline, ratePerSecond)), 2),
      };
    });
    return {
      suite: 'kafka',
      machine: machineInfo(loadAtStart),
      config: {
        broker: broker === undefined ? 'KAFKA_BROKERS' : 'started',
        records,
        warmupRecords,
        rounds,
        partitions: PARTITIONS,
        valueBytes: VALUE_BYTES,
        keys: KEYS,
        batch: BATCH,
        concurrency: CONCURRENCY,
      },
      arms: results,
      sourceStats: Object.fromEntries(diagnostics),
    };
  } finally {
    await broker?.stop();
  }
}

export function kafkaMarkdown(result: KafkaResult, heading = '##'): string {
  const { config } = result;
  const ratio = (n: number): string => n.toFixed(2);
  const rows = result.arms.map((arm) => [
    arm.name,
    spread(arm.recordsPerSecond, formatRate),
    spread(arm.microsPerRecord, (n) => n.toFixed(2)),
    arm.throughputVsRaw === undefined ? '—' : spread(arm.throughputVsRaw, ratio),
  ]);
  return [
    `${heading} Kafka: rxkafka vs raw node-rdkafka (real broker, same run)`,
    '',
    `${formatRate(config.records)} records of ~${String(config.valueBytes)} B (JSON, ${String(config.keys)} keys) on ${String(config.partitions)} partitions, ` +
      `${String(config.rounds)} measured rounds after a warm-up of ${formatRate(config.warmupRecords)}; arms interleaved, order rotated each round; ` +
      `a fresh consumer group per run, read from the earliest offset; broker ${config.broker === 'started' ? 'started by the benchmark (single KRaft node, same machine)' : 'from KAFKA_BROKERS'}. ` +
      'Clock: first record in JavaScript → every record done (raw: outputs delivered and offsets committed; rxkafka: every outcome emitted by toKafka, i.e. outputs delivered and records acknowledged). ' +
      'Values are median (min–max); "× raw" is records/s ÷ the raw arm\'s records/s in the same round (1.00 = as fast as raw).',
    '',
    table(['arm', 'records/s', 'µs/record', '× raw'], rows),
    '',
    ...result.arms.map((arm) => `- **${arm.name}**: ${arm.description}`),
    '',
    `fromKafka counters, last run of each arm: ${Object.entries(result.sourceStats)
      .map(
        ([label, stats]) =>
          `${label}: ${Object.entries(stats)
            .map(([k, v]) => `${k} ${String(v)}`)
            .join(', ')}`,
      )
      .join('; ')}.`,
    '',
    machineMarkdown(result.machine),
  ].join('\n');
}

if (isMain(import.meta.url)) {
  ensureCompiledTarget();
  const result = await runKafkaBench();
  const json = writeResult('kafka', result);
  const md = writeMarkdown('kafka', kafkaMarkdown(result, '#'));
  console.log(`\n${kafkaMarkdown(result)}\n\nwrote ${json} and ${md}`);
}
