/**
 * README promises about defaults, refusals, log sampling, serializers, diagnostics channels and error
 * classes that can be checked without a broker. toKafka's producer is replaced by a recording fake (the
 * only native client a sink creates), so each test sees exactly what the sink hands librdkafka.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  ConfigError,
  createContext,
  invalidOutcome,
  InvalidRecordError,
  RxKafkaError,
  type Outcome,
  type OutputRecord,
  type SourceRecord,
} from '@rxkafka/core';
import { from, NEVER, type Observable } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { acknowledge } from './acknowledge.js';
import { TopicExistsError } from './admin.js';
import { DeadLetterLog } from './dead-letter-log.js';
import { resolveSettings } from './from-kafka-options.js';
import * as kafka from './index.js';
import type { Logger } from './logger.js';

const fake = vi.hoisted(() => {
  interface Produced {
    readonly topic: string;
    readonly partition: number | null;
    readonly value: Buffer | null;
    readonly key: Buffer | string | null;
  }
  /** Stands in for ProducerPort: records its construction and what is produced; connects at once. */
  class FakeProducerPort {
    static readonly created: FakeProducerPort[] = [];
    readonly produced: Produced[] = [];
    constructor(
      readonly config: Readonly<Record<string, string | number | boolean>>,
      readonly events: unknown,
      readonly batches: unknown,
    ) {
      FakeProducerPort.created.push(this);
    }
    connect(): Promise<void> {
      return Promise.resolve();
    }
    pollEvery(): void {
      // no delivery reports to serve
    }
    produce(topic: string, partition: number | null, value: Buffer | null, key: Buffer | string | null): boolean {
      this.produced.push({ topic, partition, value, key });
      return true;
    }
    poll(): void {
      // no delivery reports to serve
    }
    flush(): Promise<void> {
      return Promise.resolve();
    }
    discard(): Promise<void> {
      return Promise.resolve();
    }
    disconnect(): Promise<void> {
      return Promise.resolve();
    }
  }
  return { FakeProducerPort };
});

vi.mock('./rdkafka.js', async (importOriginal) => ({
  ...(await importOriginal<Record<string, unknown>>()),
  ProducerPort: fake.FakeProducerPort,
}));

const { CHANNELS, PRODUCE_CHANNEL, fromKafka, serializeJson, toKafka } = kafka;

const SOURCE: SourceRecord = {
  topic: 'orders',
  partition: 3,
  offset: 17,
  key: Buffer.from('k1'),
  value: Buffer.from('{'),
  headers: [],
  timestamp: 0,
};

interface Line {
  readonly level: 'info' | 'warn' | 'error' | 'debug';
  readonly fields: Record<string, unknown>;
  readonly message: string;
}

function recordingLogger(): { logger: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const at =
    (level: Line['level']) =>
    (fields: object, message: string): void => {
      lines.push({ level, fields: fields as Record<string, unknown>, message });
    };
  return { logger: { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') }, lines };
}

/** The lines a dead-letter log writes for records and sampling notes: the stack lines (debug) left out. */
const recordLines = (lines: readonly Line[]) => lines.filter((line) => line.level !== 'debug');

const invalid = (offset = 17) =>
  invalidOutcome({ ...SOURCE, offset }, new InvalidRecordError('undecodable', 'Undecodable record: bad JSON'));

function okWith(outputs: readonly OutputRecord[]): Outcome<unknown, object> {
  const context = createContext<unknown, object>({ record: {}, source: SOURCE, state: {} });
  for (const output of outputs) context.emit(output);
  const noop = () => undefined;
  return { kind: 'ok', context, source: SOURCE, attempt: 1, durationMs: 0, deferErrors: [], ack: noop, nack: noop };
}

/** Subscribes a toKafka sink to `outcomes`, lets its (fake) producer connect, and returns that producer. */
async function runSink(
  options: Parameters<typeof toKafka>[0],
  outcomes: Observable<Outcome<unknown, object>> = NEVER,
): Promise<InstanceType<typeof fake.FakeProducerPort>> {
  const before = fake.FakeProducerPort.created.length;
  const subscription = outcomes.pipe(toKafka(options)).subscribe({ error: () => undefined });
  await new Promise((resolve) => setImmediate(resolve));
  subscription.unsubscribe();
  expect(fake.FakeProducerPort.created).toHaveLength(before + 1);
  return fake.FakeProducerPort.created[before]!;
}

const { logger: quiet } = recordingLogger();
const SINK = { brokers: 'b1:9092,b2:9092', deadLetterTopic: 'orders.dlq', logger: quiet } as const;
const SOURCE_OPTIONS = { brokers: '127.0.0.1:9092', groupId: 'g', topics: ['t'], schema: z.unknown() };

afterEach(() => {
  vi.restoreAllMocks();
});

// README, Options (toKafka): "`rdkafka` | `{}` | extra librdkafka producer properties (`enable.idempotence`
// is on; `linger.ms` 5 and `reconnect.backoff.max.ms` 1000 unless set)"; A chain: "producers have each
// tried it for `message.timeout.ms` (default 60 s)". (options.spec.ts covers reconnect.backoff.max.ms.)
describe("toKafka's librdkafka producer defaults", () => {
  it('gives its producer enable.idempotence, linger.ms 5, message.timeout.ms 60 s and the brokers', async () => {
    const { config } = await runSink(SINK);
    expect(config).toMatchObject({
      'bootstrap.servers': 'b1:9092,b2:9092',
      'enable.idempotence': true,
      'linger.ms': 5,
      'message.timeout.ms': 60_000,
      'reconnect.backoff.max.ms': 1000,
    });
  });

  it('lets rdkafka set linger.ms and message.timeout.ms, keeping the other defaults', async () => {
    const { config } = await runSink({ ...SINK, rdkafka: { 'linger.ms': 50, 'message.timeout.ms': 9000 } });
    expect(config).toMatchObject({
      'linger.ms': 50,
      'message.timeout.ms': 9000,
      'enable.idempotence': true,
      'reconnect.backoff.max.ms': 1000,
    });
  });
});

// README, Options (fromKafka): "`rdkafka` | `{}` | extra librdkafka consumer properties; `group.id`,
// `bootstrap.servers` and the auto-commit keys are refused"; "a bad one throws a `ConfigError` that names
// the option". (options.spec.ts covers the auto-commit keys.)
describe('fromKafka refuses group.id and bootstrap.servers in rdkafka', () => {
  it.each([
    ['group.id', 'other-group'],
    ['bootstrap.servers', 'elsewhere:9092'],
  ])('refuses rdkafka.%s with a ConfigError naming it', (key, value) => {
    let thrown: unknown;
    try {
      fromKafka({ ...SOURCE_OPTIONS, rdkafka: { [key]: value } });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect(thrown).toMatchObject({ field: `rdkafka.${key}`, received: value });
    expect((thrown as ConfigError).message).toContain(`Invalid option \`rdkafka.${key}\``);
    expect((thrown as ConfigError).expected).toContain('left out');
  });

  it('takes them from brokers and groupId instead', () => {
    const { librdkafka } = resolveSettings({ ...SOURCE_OPTIONS, brokers: 'a:1,b:2', groupId: 'payments' });
    expect(librdkafka['bootstrap.servers']).toBe('a:1,b:2');
    expect(librdkafka['group.id']).toBe('payments');
  });
});

// README, Sinks: "a batch ends `maxMs` (5, as `linger.ms`) after its first record, or at `maxRecords`
// (10,000)"; "a transaction that commits every `maxRecords` (10,000) records or `maxMs` (20) after its
// first one"; "with `deliveryBatches: false` each record is confirmed by its own delivery report".
describe('deliveryBatches and transactions defaults, as toKafka resolves them', () => {
  it('confirms deliveries in flushed batches of 10,000 records or 5 ms (as linger.ms) by default', async () => {
    const producer = await runSink(SINK);
    expect(producer.batches).toMatchObject({ transactionalId: undefined, maxRecords: 10_000, maxMs: 5 });
    expect((producer.batches as { maxMs: number }).maxMs).toBe(producer.config['linger.ms']);
  });

  it('keeps the other default when deliveryBatches sets one bound', async () => {
    expect((await runSink({ ...SINK, deliveryBatches: { maxMs: 40 } })).batches).toMatchObject({
      maxRecords: 10_000,
      maxMs: 40,
    });
    expect((await runSink({ ...SINK, deliveryBatches: { maxRecords: 7 } })).batches).toMatchObject({
      maxRecords: 7,
      maxMs: 5,
    });
  });

  it('commits transactions every 10,000 records or 20 ms by default, with id as the transactional.id', async () => {
    const producer = await runSink({ ...SINK, transactions: { id: 'orders-1' } });
    expect(producer.batches).toMatchObject({ transactionalId: 'orders-1', maxRecords: 10_000, maxMs: 20 });
    expect((await runSink({ ...SINK, transactions: { id: 't', maxRecords: 3 } })).batches).toMatchObject({
      maxRecords: 3,
      maxMs: 20,
    });
  });

  it('uses a delivery report per record with deliveryBatches: false', async () => {
    expect((await runSink({ ...SINK, deliveryBatches: false })).batches).toBeUndefined();
  });
});

// README, Options (toKafka): "`deadLetterLog` | `error`, every record | `{ level, maxPerSecond }`: the
// level of the one line per dead-lettered record, and sampling for busy topics"; Sinks: "`acknowledge()`,
// which logs failed records and acknowledges".
describe('deadLetterLog: level and maxPerSecond sampling', () => {
  let now = 0;
  beforeEach(() => {
    now = 50_000;
    vi.spyOn(performance, 'now').mockImplementation(() => now);
  });

  it('logs one line per dead-lettered record at error, every record, by default', () => {
    const { logger, lines } = recordingLogger();
    const log = new DeadLetterLog(logger);
    for (let offset = 0; offset < 500; offset++) log.write(invalid(offset), 'dlq');
    const written = recordLines(lines);
    expect(written).toHaveLength(500);
    expect(new Set(written.map((line) => line.level))).toEqual(new Set(['error']));
    expect(written[499]?.fields).toMatchObject({ reason: 'invalid', topic: 'orders', offset: 499 });
  });

  it.each(['warn', 'info'] as const)('logs at %s when level says so', (level) => {
    const { logger, lines } = recordingLogger();
    new DeadLetterLog(logger, { level }).write(invalid(), 'dlq');
    expect(recordLines(lines).map((line) => line.level)).toEqual([level]);
  });

  it('writes at most maxPerSecond lines a second, then one line saying how many were left out', () => {
    const { logger, lines } = recordingLogger();
    const log = new DeadLetterLog(logger, { level: 'warn', maxPerSecond: 2 });
    for (let offset = 0; offset < 5; offset++) log.write(invalid(offset), 'dlq');
    expect(recordLines(lines).map((line) => line.fields['offset'])).toEqual([0, 1]);

    now += 999; // still the same second
    log.write(invalid(5), 'dlq');
    expect(recordLines(lines)).toHaveLength(2);

    now += 1; // the next second: the note about the 4 left out, then the record
    log.write(invalid(6), 'dlq');
    const written = recordLines(lines);
    expect(written).toHaveLength(4);
    expect(written[2]).toMatchObject({ level: 'warn', fields: { skipped: 4, maxPerSecond: 2 } });
    expect(written[2]?.message).toContain('4 more records dead-lettered');
    expect(written[3]?.fields['offset']).toBe(6);
  });

  it('applies to acknowledge(), which still acknowledges every record', () => {
    const { logger, lines } = recordingLogger();
    const acked: number[] = [];
    const outcomes = [0, 1, 2].map((offset) =>
      invalidOutcome(
        { ...SOURCE, offset },
        new InvalidRecordError('schema', 'bad'),
        () => acked.push(offset),
        () => undefined,
      ),
    );
    from(outcomes)
      .pipe(acknowledge({ logger, deadLetterLog: { level: 'info', maxPerSecond: 1 } }))
      .subscribe();
    expect(recordLines(lines).map((line) => [line.level, line.fields['offset']])).toEqual([['info', 0]]);
    expect(acked).toEqual([0, 1, 2]);
  });

  it('applies to toKafka, whose default is a line at error per record (deadLetterTopic: false: only logged)', async () => {
    const { logger, lines } = recordingLogger();
    await runSink({ ...SINK, deadLetterTopic: false, logger }, from([invalid(1), invalid(2)]));
    expect(recordLines(lines).map((line) => [line.level, line.fields['offset']])).toEqual([
      ['error', 1],
      ['error', 2],
    ]);
    const sampled = recordingLogger();
    await runSink(
      { ...SINK, deadLetterTopic: false, logger: sampled.logger, deadLetterLog: { level: 'warn', maxPerSecond: 1 } },
      from([invalid(1), invalid(2)]),
    );
    expect(recordLines(sampled.lines).map((line) => [line.level, line.fields['offset']])).toEqual([['warn', 1]]);
  });
});

// README, Options (toKafka): "`serialize` | JSON | output value to bytes; Buffers and strings pass through,
// `null` is a tombstone; may return a Promise".
describe('serializeJson, the default serializer', () => {
  it('passes Buffers and strings through, keeps null as a tombstone, and writes anything else as JSON', () => {
    const bytes = Buffer.from([0xff, 0x00]);
    expect(serializeJson(bytes)).toBe(bytes);
    expect(serializeJson('plain "text"')).toBe('plain "text"');
    expect(serializeJson(null)).toBeNull();
    expect(serializeJson({ id: 'o1', amount: 2.5, tags: ['a'] })).toBe('{"id":"o1","amount":2.5,"tags":["a"]}');
    expect(serializeJson(42)).toBe('42');
    expect(serializeJson(false)).toBe('false');
  });

  it('is what toKafka produces with when no serialize is given', async () => {
    const bytes = Buffer.from([1, 2, 3]);
    const outcome = okWith([
      { topic: 'out', key: 'a', value: bytes },
      { topic: 'out', key: 'b', value: 'text' },
      { topic: 'out', key: 'c', value: null },
      { topic: 'out', key: 'd', value: { n: 1 } },
    ]);
    const producer = await runSink(SINK, from([outcome]));
    expect(producer.produced.map((record) => [record.key, record.value?.toString('utf8') ?? null])).toEqual([
      ['a', '\u0001\u0002\u0003'],
      ['b', 'text'],
      ['c', null],
      ['d', '{"n":1}'],
    ]);
    expect(producer.produced[0]?.value).toEqual(bytes);
  });

  // README, Options: "`serialize` … may return a Promise": any thenable, not only a native one.
  it('awaits a serializer that returns a thenable that is not a native Promise', async () => {
    const later = (text: string): PromiseLike<string> => ({
      then: (onFulfilled, onRejected) => Promise.resolve(text).then(onFulfilled, onRejected),
    });
    const producer = await runSink(
      { ...SINK, serialize: (value) => later(`<${String(value)}>`) },
      from([okWith([{ topic: 'out', key: 'a', value: 'x' }])]),
    );
    expect(producer.produced.map((record) => record.value?.toString('utf8'))).toEqual(['<x>']);
  });
});

// README, Diagnostics: "`CHANNELS` (`@rxkafka/kafka`): `rxkafka:consumer.state`, `.assigned`, `.revoked`,
// `.paused`, `.resumed`, `.committed` (with its latency), `.commitFailed`, `.error`, `.stalled`, `.record`
// ..., `.settled` ..., `.stats` ..., and `rxkafka:producer.error`, `.replaced`, `.stats`"; Packages: "Lifecycle
// events (..., `…rejoined`, `producer.error`) are published on `node:diagnostics_channel`" (the Diagnostics
// list leaves `rejoined` out; the Packages paragraph names it).
describe('diagnostics channels', () => {
  const README_CHANNELS = [
    'rxkafka:consumer.state',
    'rxkafka:consumer.assigned',
    'rxkafka:consumer.revoked',
    'rxkafka:consumer.paused',
    'rxkafka:consumer.resumed',
    'rxkafka:consumer.committed',
    'rxkafka:consumer.commitFailed',
    'rxkafka:consumer.error',
    'rxkafka:consumer.stalled',
    'rxkafka:consumer.rejoined',
    'rxkafka:consumer.record',
    'rxkafka:consumer.settled',
    'rxkafka:consumer.stats',
    'rxkafka:producer.error',
    'rxkafka:producer.replaced',
    'rxkafka:producer.stats',
  ];

  /** Every `rxkafka:<event>` the package's modules publish: publish('…'), publishStatistics('…'), channel('…'). */
  function publishedInSource(): Set<string> {
    const dir = fileURLToPath(new URL('.', import.meta.url));
    const names = new Set<string>();
    for (const file of readdirSync(dir)) {
      if (!file.endsWith('.ts') || file.endsWith('.spec.ts') || file.endsWith('.test.ts')) continue;
      const text = readFileSync(`${dir}/${file}`, 'utf8');
      for (const call of text.matchAll(/\b(?:publish|publishStatistics|channel)\(([^)]*)\)/g)) {
        for (const name of (call[1] ?? '').matchAll(/'((?:consumer|producer)\.[A-Za-z]+)'/g)) {
          names.add(`rxkafka:${name[1] ?? ''}`);
        }
      }
    }
    return names;
  }

  it('exports exactly the channels the README lists', () => {
    expect(Object.values(CHANNELS).sort()).toEqual([...README_CHANNELS].sort());
  });

  it('publishes on every channel in CHANNELS, and on no other', () => {
    expect([...publishedInSource()].sort()).toEqual(Object.values(CHANNELS).sort());
  });

  // README, Diagnostics: "`PRODUCE_CHANNEL` (`@rxkafka/kafka`): a `TracingChannel` from produce to delivery".
  it("publishes the start of each produce on PRODUCE_CHANNEL ('rxkafka:produce')", async () => {
    expect(PRODUCE_CHANNEL).toBe('rxkafka:produce');
    const started: unknown[] = [];
    const listener = (message: unknown) => {
      started.push(message);
    };
    diagnosticsChannel.subscribe(`tracing:${PRODUCE_CHANNEL}:start`, listener);
    try {
      await runSink(SINK, from([okWith([{ topic: 'out', key: 'k', value: 'v' }])]));
    } finally {
      diagnosticsChannel.unsubscribe(`tracing:${PRODUCE_CHANNEL}:start`, listener);
    }
    expect(started).toEqual([expect.objectContaining({ topic: 'out', key: 'k', deadLetter: false })]);
  });
});

// errors.ts: "The typed error family of `@rxkafka/core`. Every error carries a stable `code`"; README:
// refused credentials `AuthenticationError`, a denied read `AuthorizationError`, a failed delivery
// `DeliveryError`, a close past its bound a logged `CloseTimeoutError`, an unacknowledged outcome a
// `MissingSinkError`; Packages: "an existing topic is a `TopicExistsError`" (on `@rxkafka/kafka/admin`).
describe('error classes exported from @rxkafka/kafka', () => {
  const ownCode: [string, Error, string][] = [
    ['LifecycleError', new kafka.LifecycleError('connect', 'closed'), 'ERR_LIFECYCLE'],
    ['MissingSinkError', new kafka.MissingSinkError('orders[0]@1'), 'ERR_MISSING_SINK'],
    ['PartitionRevokedError', new kafka.PartitionRevokedError('orders', 2), 'ERR_PARTITION_REVOKED'],
    ['ShutdownError', new kafka.ShutdownError(), 'ERR_SHUTDOWN'],
    ['CloseTimeoutError', new kafka.CloseTimeoutError('producer', 30_000), 'ERR_CLOSE_TIMEOUT'],
  ];
  const librdkafka = (Class: typeof kafka.KafkaError) => new Class('refused', 'ERR_SASL', -169, false, true);
  const kafkaErrors: [string, Error][] = [
    ['KafkaError', librdkafka(kafka.KafkaError)],
    ['AuthenticationError', librdkafka(kafka.AuthenticationError)],
    ['AuthorizationError', librdkafka(kafka.AuthorizationError)],
    ['DeliveryError', librdkafka(kafka.DeliveryError)],
    ['TopicExistsError', librdkafka(TopicExistsError)],
  ];
  const kafkaErrorKinds = [kafka.AuthenticationError, kafka.AuthorizationError, kafka.DeliveryError, TopicExistsError];

  it.each(ownCode)('%s has its stable code and its class name, and is an RxKafkaError', (name, error, code) => {
    expect(error).toBeInstanceOf(RxKafkaError);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(kafka.KafkaError);
    expect(error).toMatchObject({ name, code });
  });

  it.each(kafkaErrors)("%s is a KafkaError carrying librdkafka's code, named after its class", (name, error) => {
    expect(error).toBeInstanceOf(kafka.KafkaError);
    expect(error).toBeInstanceOf(RxKafkaError);
    expect(error).toMatchObject({ name, code: 'ERR_SASL', errno: -169, retriable: false, fatal: true });
  });

  it('keeps the kinds of KafkaError apart: a refused login is not a denied operation, nor a failed delivery', () => {
    for (const Kind of kafkaErrorKinds) {
      const error = librdkafka(Kind);
      expect(kafkaErrorKinds.filter((Other) => error instanceof Other)).toEqual([Kind]);
    }
  });

  it('covers every error class the index exports', () => {
    const exported = Object.entries(kafka)
      .filter(([, value]) => typeof value === 'function' && value.prototype instanceof Error)
      .map(([name]) => name)
      .sort();
    const covered = [...ownCode, ...kafkaErrors].map(([name]) => name).filter((name) => name !== 'TopicExistsError');
    expect(exported).toEqual(covered.sort());
  });

  it('reports the details it is built with', () => {
    expect(new kafka.PartitionRevokedError('orders', 2)).toMatchObject({ topic: 'orders', partition: 2 });
    expect(new kafka.CloseTimeoutError('consumer', 500).message).toContain('500 ms');
    expect(new kafka.LifecycleError('connect', 'closed').message).toBe('Cannot connect while closed');
  });
});
