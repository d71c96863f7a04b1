/**
 * fromKafka's options: the public type, their validation, and the settings a source runs with
 * (defaults applied, librdkafka configuration derived from the limits).
 */
import { z } from 'zod';
import { ConfigError, type StateFactoryOption } from '@rxkafka/core';
import { durationMs, fn, MAX_TIMER_MS, parseOptions, positiveInt } from '@rxkafka/core/options';
import { brokersOption, loggerOption, rdkafkaOption, RECONNECT_BACKOFF_MAX_MS } from './client-options.js';
import { jsonDecoder, type Decoder } from './decode.js';
import { checkLibrdkafkaConfig, type LibrdkafkaConfig } from './librdkafka-config.js';
import { defaultLogger, type Logger } from './logger.js';
import { isStandardSchema, type StandardSchemaV1 } from './schema.js';

/**
 * fromKafka's options. `state` (a factory of each record's state `S`) is optional while every field of
 * `S` is, and required as soon as one is not.
 */
export type FromKafkaOptions<R, S> = KafkaSourceOptions<R> & StateFactoryOption<S>;

export interface KafkaSourceOptions<R> {
  /** `bootstrap.servers`, e.g. `127.0.0.1:9092`. */
  readonly brokers: string;
  readonly groupId: string;
  /** Topic names, or one RegExp (librdkafka subscribes to every matching topic). */
  readonly topics: readonly string[] | RegExp;
  /**
   * Validates each decoded record; failures become `invalid` outcomes, never stream errors. A zod schema,
   * or any Standard Schema v1 validator (`zod/mini`, valibot, arktype); it may validate asynchronously.
   */
  readonly schema: StandardSchemaV1<unknown, R>;
  /** Raw value to schema input; it may return a Promise (e.g. a schema-registry lookup). Default: UTF-8 JSON. */
  readonly decode?: Decoder;
  /**
   * Records handed downstream and not yet settled, plus records done behind an unfinished older record
   * of their partition (which a crash would process again); at this count partitions pause. So a crash
   * replays at most this many records beyond those completed since the last commit. Default 4096: it
   * must cover the pool (runChain's `concurrency`) and a sink's delivery latency (records wait for their
   * delivery to be confirmed), or the pipeline idles at the limit.
   */
  readonly maxInFlight?: number;
  /** Bytes (keys + values) of unsettled records; at this size partitions pause. Default 64 MiB. */
  readonly maxInFlightBytes?: number;
  /**
   * Records fetched and not yet covered by a commit: in flight, completed behind a slower record of
   * their partition, or completed since the last commit. At this count the source waits (and pauses
   * after `pauseAfter`) as it does at `maxInFlight`, so after a crash at most this many records are
   * processed again. Records in flight and done behind a slower one already count against
   * `maxInFlight`, so this adds a bound on those waiting for a commit. Default: 4 × `maxInFlight`
   * (16,384), wide enough that commit round trips never hold fetching back (a window of `maxInFlight`
   * cost up to 87% of the throughput).
   */
  readonly maxUncommitted?: number;
  /**
   * Records completed behind an older, unfinished record of their partition (a slow record, or a busy
   * key ahead of it in key order): they cannot be committed until it finishes, so a crash processes
   * them again. Once the source holds this many, a partition that has held at least its share of them
   * (this limit over the assigned partitions) for `pauseAfter` stops fetching, and what it already
   * fetched waits aside, until its oldest record finishes. The other partitions go on, with the rest of
   * `maxInFlight` (which counts these records too). Default: `maxInFlight` / 4 (1024). Unlike
   * `maxUncommitted` it leaves records completed in order alone, so commit round trips never hold
   * fetching back.
   */
  readonly maxHeldBack?: number;
  /** Partitions resume once in-flight records and bytes fall below this fraction of the limits. Default 0.5. */
  readonly resumeAt?: number;
  /**
   * Shares of `maxInFlight`: a partition holding its share (the limit over the assigned partitions) is
   * paused, and what it already fetched waits aside (counted against the limits), so the budget goes to
   * the other partitions. A consume batch comes from few partitions: without shares, in key mode a few
   * partitions' keys fill `maxInFlight` while workers idle. Default: shares apply while `runChain`,
   * applied to this source directly in key or partition order, has idle workers and at least `resumeAt`
   * of `maxInFlight` queued behind busy keys (never in unordered mode, where any record can run). `true`
   * also applies them without such a runChain, whenever `resumeAt` of the limit is in flight; `false`
   * never.
   */
  readonly shareInFlight?: boolean;
  /**
   * How long in-flight records may sit at a limit before partitions are paused, in ms. Default 1000.
   * Pausing makes librdkafka drop its prefetch and re-fetch on resume, so brief peaks are waited out.
   */
  readonly pauseAfter?: number;
  /** Most records per `consume` call. Default 500. */
  readonly batchSize?: number;
  /** How long one `consume` call waits for the next record, in ms. Default 25. */
  readonly pollTimeout?: number;
  /**
   * Commit at least this often while records complete, in ms. Default 200: after a crash, the records
   * completed since the last commit are processed again, and a commit costs no measurable throughput
   * (one commit is in flight at a time, so their rate is capped by the broker's round trip anyway).
   */
  readonly commitInterval?: number;
  /**
   * Commit as soon as this many records completed since the last commit (or, if the commit point could
   * not move yet, at its next move). Default 1000.
   */
  readonly commitEvery?: number;
  /**
   * A partition that has records waiting and fetched nothing for this long, while rxkafka holds nothing
   * back (no backpressure pause, no revoke, no stop), is stalled: it is logged with the reason, counted
   * in `stats.stalls`, resumed and re-seeked to where it should read. In ms; default 30,000.
   */
  readonly stallTimeout?: number;
  /**
   * Log a warning when one record has held its partition's commit point back this long while later
   * records of that partition completed (they would be processed again after a crash). In ms; default 10,000.
   */
  readonly headOfLineWarnAfter?: number;
  /** On revoke and on stop: how long in-flight records may take before they are aborted, in ms. Default 10,000. */
  readonly drainTimeout?: number;
  /** After aborting, how long to wait for their defers and outcomes, in ms. Default 5000. */
  readonly abortGrace?: number;
  /**
   * How long connecting may take before the source fails, and closing before it is given up on (logged with
   * a `CloseTimeoutError`; the group drops the member after `session.timeout.ms`), in ms. Default 30,000.
   */
  readonly connectTimeout?: number;
  /** Aborting it stops the source gracefully, as `stop()` does. */
  readonly signal?: AbortSignal;
  /** Extra librdkafka consumer properties. Misspelled keys are rejected. */
  readonly rdkafka?: LibrdkafkaConfig;
  /** Where stalls and head-of-line warnings are logged. Default: pino on stderr. */
  readonly logger?: Logger;
}

/**
 * 1000 held a produce pipeline at the limit for a fifth of its time (records wait ~12 ms for their
 * delivery reports at 80k/s); see docs/decisions.md.
 */
export const DEFAULT_MAX_IN_FLIGHT = 4096;

/** The default `maxUncommitted`, in multiples of `maxInFlight` (docs/decisions.md 39). */
const UNCOMMITTED_PER_IN_FLIGHT = 4;
/** The default `maxHeldBack`, as a fraction of `maxInFlight` (docs/decisions.md 41). */
const HELD_BACK_PER_IN_FLIGHT = 0.25;

const FORCED_KEYS = ['enable.auto.commit', 'enable.auto.offset.store', 'group.id', 'bootstrap.servers'] as const;

const TOPICS_EXPECTED = 'a non-empty array of topic names, or a RegExp';
const topicName = z
  .string({ error: 'a topic name (a non-empty string)' })
  .min(1, { error: 'a topic name (a non-empty string)' });

const optionsSchema = z.strictObject({
  brokers: brokersOption,
  groupId: z.string({ error: 'a consumer group id' }).min(1, { error: 'a consumer group id (a non-empty string)' }),
  topics: z.union([z.array(topicName).min(1, { error: TOPICS_EXPECTED }), z.instanceof(RegExp)], {
    error: TOPICS_EXPECTED,
  }),
  schema: z.custom<StandardSchemaV1>(isStandardSchema, {
    error: 'a schema: zod, or any Standard Schema v1 validator (an object with a `~standard` property)',
  }),
  decode: fn<Decoder>('a decoder').optional(),
  state: fn<() => unknown>('a state factory').optional(),
  maxInFlight: positiveInt('records').optional(),
  maxInFlightBytes: z
    .number({ error: 'bytes (an integer >= 1024)' })
    .int({ error: 'bytes (an integer >= 1024)' })
    .min(1024, { error: 'bytes (an integer >= 1024)' })
    .optional(),
  maxUncommitted: positiveInt('records').optional(),
  maxHeldBack: positiveInt('records').optional(),
  shareInFlight: z.boolean({ error: 'true or false' }).optional(),
  resumeAt: z
    .number({ error: 'a fraction in (0, 1]' })
    .gt(0, { error: 'a fraction in (0, 1]' })
    .max(1, { error: 'a fraction in (0, 1]' })
    .optional(),
  pauseAfter: durationMs('a wait', { unlimited: false }).optional(),
  batchSize: positiveInt('records per consume call').optional(),
  pollTimeout: positiveInt('milliseconds').optional(),
  commitInterval: positiveInt('milliseconds').optional(),
  commitEvery: positiveInt('records').optional(),
  // Under a second the guard, which looks once a second, would take every pause between fetches for a stall.
  stallTimeout: z
    .custom<number>((ms) => typeof ms === 'number' && (ms === Infinity || (ms >= 1000 && ms <= MAX_TIMER_MS)), {
      error: `a stall threshold in milliseconds (from 1000 to ${String(MAX_TIMER_MS)}, or Infinity to turn the guard off)`,
    })
    .optional(),
  headOfLineWarnAfter: durationMs('a warning threshold').optional(),
  logger: loggerOption,
  drainTimeout: durationMs('a drain timeout').optional(),
  abortGrace: durationMs('a grace period').optional(),
  connectTimeout: durationMs('a connect timeout', { unlimited: false }).optional(),
  signal: z.instanceof(AbortSignal, { error: 'an AbortSignal' }).optional(),
  rdkafka: rdkafkaOption,
});

/** What a source runs with: every option resolved. */
export interface Settings<R, S> {
  readonly groupId: string;
  readonly topics: readonly (string | RegExp)[];
  readonly schema: StandardSchemaV1<unknown, R>;
  readonly decode: Decoder;
  readonly makeState: () => S;
  readonly maxInFlight: number;
  readonly maxInFlightBytes: number;
  readonly maxUncommitted: number;
  readonly maxHeldBack: number;
  readonly resumeAt: number;
  /** Undefined: decided by how runChain orders (see KafkaSource.chainAttached). */
  readonly shareInFlight: boolean | undefined;
  readonly pauseAfter: number;
  readonly batchSize: number;
  readonly pollTimeout: number;
  readonly commitInterval: number;
  readonly commitEvery: number;
  readonly stallTimeout: number;
  readonly headOfLineWarnAfter: number;
  readonly logger: Logger;
  readonly drainTimeout: number;
  readonly abortGrace: number;
  readonly connectTimeout: number;
  readonly signal: AbortSignal | undefined;
  readonly librdkafka: LibrdkafkaConfig;
}

export function resolveSettings<R, S>(options: FromKafkaOptions<R, S>): Settings<R, S> {
  const parsed = parseOptions(optionsSchema, options);
  const extra = parsed.rdkafka ?? {};
  checkLibrdkafkaConfig(extra, 'consumer', 'rdkafka');
  for (const key of FORCED_KEYS) {
    if (key in extra) {
      throw new ConfigError(
        `rdkafka.${key}`,
        'to be left out: rxkafka sets it itself (offsets are stored and committed only when records are done)',
        extra[key],
      );
    }
  }
  const maxInFlight = parsed.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  const maxInFlightBytes = parsed.maxInFlightBytes ?? 64 * 1024 * 1024;
  return {
    groupId: parsed.groupId,
    topics: parsed.topics instanceof RegExp ? [parsed.topics] : parsed.topics,
    schema: options.schema,
    decode: parsed.decode ?? jsonDecoder,
    // Without a factory every field of S is optional (the types see to it), so {} is a valid S.
    makeState: (options as { state?: () => S }).state ?? ((): S => ({}) as S),
    maxInFlight,
    maxInFlightBytes,
    maxUncommitted: parsed.maxUncommitted ?? UNCOMMITTED_PER_IN_FLIGHT * maxInFlight,
    maxHeldBack: parsed.maxHeldBack ?? Math.max(1, Math.floor(HELD_BACK_PER_IN_FLIGHT * maxInFlight)),
    resumeAt: parsed.resumeAt ?? 0.5,
    shareInFlight: parsed.shareInFlight,
    pauseAfter: parsed.pauseAfter ?? 1000,
    batchSize: parsed.batchSize ?? 500,
    pollTimeout: parsed.pollTimeout ?? 25,
    commitInterval: parsed.commitInterval ?? 200,
    commitEvery: parsed.commitEvery ?? 1000,
    stallTimeout: parsed.stallTimeout ?? 30_000,
    headOfLineWarnAfter: parsed.headOfLineWarnAfter ?? 10_000,
    logger: options.logger ?? defaultLogger(),
    drainTimeout: parsed.drainTimeout ?? 10_000,
    abortGrace: parsed.abortGrace ?? 5000,
    connectTimeout: parsed.connectTimeout ?? 30_000,
    signal: parsed.signal,
    librdkafka: {
      'bootstrap.servers': parsed.brokers,
      'group.id': parsed.groupId,
      'partition.assignment.strategy': 'cooperative-sticky',
      'auto.offset.reset': 'earliest',
      // The stored offset only moves when rxkafka says a record is done, and rxkafka commits it.
      'enable.auto.commit': false,
      'enable.auto.offset.store': false,
      // librdkafka's prefetch is bounded like rxkafka's own buffer, so memory is truly capped.
      'queued.max.messages.kbytes': Math.max(1, Math.ceil(maxInFlightBytes / 1024 / 2)),
      'queued.min.messages': Math.max(1, Math.min(100_000, maxInFlight)),
      // With the prefetch kept this small, librdkafka's default 1 s back-off after a full queue stalls the fetcher.
      'fetch.queue.backoff.ms': 5,
      'reconnect.backoff.max.ms': RECONNECT_BACKOFF_MAX_MS,
      ...extra,
    },
  };
}
