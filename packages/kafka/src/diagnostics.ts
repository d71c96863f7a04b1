import diagnosticsChannel from 'node:diagnostics_channel';
import type { SourceRecord } from '@rxkafka/core';
import type { TopicPartitionOffset } from './rdkafka.js';

/**
 * Events on `node:diagnostics_channel`, for metrics and tracing tools (`@rxkafka/observe` subscribes
 * to them). Subscribe with `diagnostics_channel.subscribe(CHANNELS.paused, listener)`. Per-record
 * events (`record`, `settled`, the produce TracingChannel) are built only while someone subscribes.
 */
export const CHANNELS = {
  /** `{ state }`: the source's lifecycle state. */
  state: 'rxkafka:consumer.state',
  /** `{ partitions }` */
  assigned: 'rxkafka:consumer.assigned',
  /** `{ partitions }` */
  revoked: 'rxkafka:consumer.revoked',
  /** `{ inFlight, inFlightBytes }`: backpressure paused every assigned partition. */
  paused: 'rxkafka:consumer.paused',
  /** `{ inFlight, inFlightBytes }` */
  resumed: 'rxkafka:consumer.resumed',
  /** {@link CommittedMessage} */
  committed: 'rxkafka:consumer.committed',
  /** `{ error }` */
  commitFailed: 'rxkafka:consumer.commitFailed',
  /** `{ error }` */
  error: 'rxkafka:consumer.error',
  /** A `Stall` (see the stall guard): a partition with lag that fetched nothing, logged and recovered. */
  stalled: 'rxkafka:consumer.stalled',
  /**
   * `{ groupId, waitedMs, boundMs }`: the member lost its assignment, got none back within the bound, and
   * left the group to join it again (the rejoin guard).
   */
  rejoined: 'rxkafka:consumer.rejoined',
  /** {@link ConsumedMessage}: a record handed downstream. */
  record: 'rxkafka:consumer.record',
  /** {@link SettledMessage}: a record acknowledged (done) or released. */
  settled: 'rxkafka:consumer.settled',
  /** {@link StatisticsMessage}: librdkafka's statistics (set `statistics.interval.ms` in `rdkafka`). */
  stats: 'rxkafka:consumer.stats',
  /** `{ error }` */
  producerError: 'rxkafka:producer.error',
  /** `{ error, resent }`: a producer whose record failed with a retriable error was replaced. */
  producerReplaced: 'rxkafka:producer.replaced',
  /** {@link StatisticsMessage} of a `toKafka` producer. */
  producerStats: 'rxkafka:producer.stats',
} as const;

/**
 * A TracingChannel: one produced record (an output or a dead-letter record), from `start` (before
 * librdkafka takes it; subscribers may add `headers`, e.g. `traceparent`) through `error` (delivery
 * failed) to `asyncEnd` (delivered: its batch flushed, or its own delivery report came). `end` and
 * `asyncStart` are not used.
 */
export const PRODUCE_CHANNEL = 'rxkafka:produce';

export interface ConsumedMessage {
  readonly groupId: string;
  readonly source: SourceRecord;
  /** Key plus value bytes. */
  readonly bytes: number;
}

export interface SettledMessage extends ConsumedMessage {
  /** True when acknowledged (may be committed), false when released uncommitted (aborted). */
  readonly done: boolean;
}

export interface CommittedMessage {
  readonly groupId: string;
  readonly offsets: readonly TopicPartitionOffset[];
  /** From sending the commit to its result, in ms. */
  readonly latencyMs: number;
}

export interface StatisticsMessage {
  /** The consumer's group; undefined for a producer. */
  readonly groupId: string | undefined;
  /** librdkafka's statistics JSON, parsed (see librdkafka's STATISTICS.md). */
  readonly stats: Record<string, unknown>;
}

export interface ProduceTrace {
  readonly topic: string;
  readonly key: Buffer | string | null;
  /** True for a dead-letter record. */
  readonly deadLetter: boolean;
  /** The sink's dead-letter topic (false without one), so a monitor can show it before the first failure. */
  readonly deadLetterTopic: string | false;
  /** The consumed record this one comes from. */
  readonly source: SourceRecord;
  /** Headers a subscriber adds at `start`; they are sent with the record. */
  readonly headers: Record<string, string>;
  /** performance.now() when librdkafka took the record (after any wait for room in its queue). */
  sentAt?: number;
  /** Set before `error`. */
  error?: unknown;
}

/** An event's name without the `rxkafka:` prefix: only the channels in `CHANNELS` can be published. */
export type EventName = (typeof CHANNELS)[keyof typeof CHANNELS] extends `rxkafka:${infer Name}` ? Name : never;

const channels = new Map<string, diagnosticsChannel.Channel>();

/** @internal The channel of `rxkafka:<event>`, to check `hasSubscribers` before building a message. */
export function channel(event: EventName): diagnosticsChannel.Channel {
  let found = channels.get(event);
  if (found === undefined) {
    found = diagnosticsChannel.channel(`rxkafka:${event}`);
    channels.set(event, found);
  }
  return found;
}

export function publish(event: EventName, message: object): void {
  const found = channel(event);
  if (found.hasSubscribers) found.publish(message);
}

/** @internal */
export const produceChannel = diagnosticsChannel.tracingChannel<object, ProduceTrace>(PRODUCE_CHANNEL);

/** @internal Parses librdkafka's statistics JSON and publishes it, if anyone listens. */
export function publishStatistics(
  event: 'consumer.stats' | 'producer.stats',
  groupId: string | undefined,
  json: string,
): void {
  const found = channel(event);
  if (!found.hasSubscribers) return;
  try {
    found.publish({ groupId, stats: JSON.parse(json) as Record<string, unknown> } satisfies StatisticsMessage);
  } catch {
    // A statistics line that does not parse is skipped; the next one comes at the next interval.
  }
}
