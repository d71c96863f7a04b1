/**
 * Shared helpers for the integration suites: unique names, topic set-up, a quiet logger and a
 * read-back consumer that counts what a topic really holds. Everything goes through
 * `@rxkafka/kafka`; nothing here touches node-rdkafka directly.
 */
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { z } from 'zod';
import { handler, runChain, type RunChainOptions, type SourceRecord } from '@rxkafka/core';
import {
  emptyOutcomeCounts,
  fromKafka,
  runService,
  toKafka,
  type KafkaSource,
  type LibrdkafkaConfig,
  type Logger,
  type OutcomeCounts,
  type ToKafkaOptions,
} from '@rxkafka/kafka';
import { createTopics, type NewTopic, type PlainRecord } from '@rxkafka/kafka/admin';

/** Bootstrap servers of the broker started by the global setup (or KAFKA_BROKERS). */
export function brokers(): string {
  return inject('kafkaBrokers');
}

/** A name no other test (or earlier run against the same broker) uses. */
export function unique(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** Creates fresh topics (name them with `unique`). */
export async function newTopics(specs: readonly NewTopic[]): Promise<void> {
  await createTopics(brokers(), specs);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once `predicate` holds; rejects with `what` after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what()}`);
    await sleep(20);
  }
}

/** `promise`, or a rejection naming `what` after `timeoutMs`: a step that hangs says which it was. */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what()}`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([promise, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/** A logger that keeps dead-letter and delivery log lines in memory instead of spamming stderr. */
export interface CapturingLogger extends Logger {
  /** `at` is performance.now() when the line was logged. */
  readonly lines: { level: 'info' | 'warn' | 'error'; object: object; message: string; at: number }[];
}

export function capturingLogger(): CapturingLogger {
  const lines: CapturingLogger['lines'] = [];
  return {
    lines,
    info: (object, message) => void lines.push({ level: 'info', object, message, at: performance.now() }),
    warn: (object, message) => void lines.push({ level: 'warn', object, message, at: performance.now() }),
    error: (object, message) => void lines.push({ level: 'error', object, message, at: performance.now() }),
  };
}

/**
 * Consumer tuning for tests: a short session so that a consumer that vanishes without leaving
 * does not hold its partitions for the default 45 s. Graceful leaves never wait for it.
 */
export const CONSUMER_TUNING: LibrdkafkaConfig = { 'session.timeout.ms': 10_000, 'heartbeat.interval.ms': 500 };

/** The records of the group-member tests: an id, keyed `k<id % keys>`. */
export const IdRecord = z.object({ id: z.number().int() });
export type IdRecord = z.infer<typeof IdRecord>;

/** Input for `topic`: ids `from` … `from + count - 1`, keyed `k<id % keys>`. */
export function idRecords(topic: string, from: number, count: number, keys: number): PlainRecord[] {
  return Array.from({ length: count }, (_, i) => {
    const id = from + i;
    return { topic, key: `k${String(id % keys)}`, value: JSON.stringify({ id }) };
  });
}

/**
 * A consumer group member running fromKafka → runChain → toKafka as a service, counting its outcomes.
 * Its one handler waits `delayMs()` and forwards `{ id, by: name }` to `outTopic`, with the input's key.
 */
export interface GroupMember {
  readonly source: KafkaSource<IdRecord, Record<string, unknown>>;
  readonly counts: OutcomeCounts;
  /** runService's result: the counts once the member has stopped. */
  readonly done: Promise<OutcomeCounts>;
}

export function startGroupMember(options: {
  readonly name: string;
  readonly groupId: string;
  readonly topic: string;
  readonly outTopic: string;
  readonly delayMs: () => number;
  readonly chainOptions?: RunChainOptions<IdRecord, Record<string, unknown>>;
  readonly deadLetterTopic: string | false;
  /** How toKafka confirms deliveries: its `deliveryBatches` or `transactions`; batches by default. */
  readonly delivery?: Pick<ToKafkaOptions, 'deliveryBatches' | 'transactions'>;
}): GroupMember {
  const { name, outTopic, delayMs } = options;
  const counts = emptyOutcomeCounts();
  const source = fromKafka<IdRecord>({
    brokers: brokers(),
    groupId: options.groupId,
    topics: [options.topic],
    schema: IdRecord,
    rdkafka: { ...CONSUMER_TUNING, 'client.id': name },
  });
  const forward = handler<IdRecord, Record<string, unknown>>('work', async (ctx) => {
    await sleep(delayMs());
    ctx.emit({ topic: outTopic, key: ctx.key, value: { id: ctx.record.id, by: name } });
  });
  const done = runService(
    source,
    (records) =>
      records.pipe(
        runChain([forward], options.chainOptions),
        toKafka({
          brokers: brokers(),
          deadLetterTopic: options.deadLetterTopic,
          logger: capturingLogger(),
          ...options.delivery,
        }),
      ),
    {
      handleSignals: false,
      onOutcome: (outcome) => {
        counts[outcome.kind]++;
      },
    },
  );
  return { source, counts, done };
}

/** A source that hands raw records through unchanged: `record` is the value Buffer (or null). */
export function rawSource(
  topics: readonly string[],
  groupId: string,
  rdkafka: LibrdkafkaConfig = {},
): KafkaSource<unknown, Record<string, unknown>> {
  return fromKafka({
    brokers: brokers(),
    groupId,
    topics,
    schema: z.unknown(),
    decode: (value) => value,
    rdkafka: { ...CONSUMER_TUNING, ...rdkafka },
  });
}

export interface ReadOptions {
  /** Stop once this many records arrived (then wait `settleMs` more, to catch extras). */
  readonly expected: number;
  /** Default: a fresh group, reading from the earliest offset. */
  readonly groupId?: string;
  /** Give up after this long; the caller's count assertion then reports the shortfall. Default 30 s. */
  readonly timeoutMs?: number;
  /** After reaching `expected`, keep reading this long so duplicates and strays are seen. Default 1000 ms. */
  readonly settleMs?: number;
  /** Extra consumer properties, e.g. `isolation.level`. */
  readonly rdkafka?: LibrdkafkaConfig;
}

/**
 * Reads topics back with a fromKafka consumer and returns every record it saw, in arrival order
 * (per partition that is offset order). Used to count outputs and dead-letter records, and to
 * check which offsets a group re-receives.
 */
export async function readBack(topics: readonly string[], options: ReadOptions): Promise<SourceRecord[]> {
  const source = rawSource(topics, options.groupId ?? unique('reader'), options.rdkafka);
  const seen: SourceRecord[] = [];
  let failure: unknown;
  const subscription = source.pipe(runChain([], { ordering: 'unordered' })).subscribe({
    next: (outcome) => {
      seen.push(outcome.source);
      outcome.ack();
    },
    error: (error: unknown) => {
      failure = error;
    },
  });
  try {
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    while (seen.length < options.expected && failure === undefined && Date.now() < deadline) await sleep(20);
    if (failure === undefined) await sleep(options.settleMs ?? 1000);
  } finally {
    await source.stop();
    subscription.unsubscribe();
  }
  if (failure !== undefined)
    throw failure instanceof Error ? failure : new Error('the read-back consumer failed', { cause: failure });
  return seen;
}

/** Parses and validates a JSON record value read back from Kafka. */
export function json<T>(record: SourceRecord, schema: z.ZodType<T>): T {
  if (record.value === null)
    throw new Error(`record ${record.topic}[${String(record.partition)}]@${String(record.offset)} is a tombstone`);
  return schema.parse(JSON.parse(record.value.toString('utf8')));
}

/** Header values of a record as strings (last one wins, like Context.headers). */
export function headersOf(record: SourceRecord): Record<string, string> {
  const result: Record<string, string> = {};
  for (const header of record.headers) result[header.key] = header.value.toString('utf8');
  return result;
}

/** Groups values by a key, keeping order. */
export function groupBy<T, K>(items: Iterable<T>, keyOf: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [item]);
    else group.push(item);
  }
  return groups;
}

/** Values that occur more than once. */
export function duplicates<T>(items: Iterable<T>): T[] {
  const seen = new Set<T>();
  const dups = new Set<T>();
  for (const item of items) {
    if (seen.has(item)) dups.add(item);
    else seen.add(item);
  }
  return [...dups];
}
