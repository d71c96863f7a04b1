/**
 * The guard behind "never silently idle" (DESIGN 3a): an assigned partition that has records waiting
 * and fetched nothing for `stallTimeout`, while nothing of rxkafka's holds it back, is stalled.
 * Whatever the cause (a pause librdkafka kept from an earlier assignment, a fetcher that never
 * restarted after a broker came back), the cure is the same: resume it and seek it to where it should
 * be reading, which restarts librdkafka's fetcher for that partition.
 *
 * Pure logic over a small probe, so it is unit-tested without a broker.
 */
import type { TopicPartition } from './rdkafka.js';

/** What the guard needs to know of one assigned partition. */
export interface WatchedPartition extends TopicPartition {
  /** performance.now() of the last sign of life: assignment, resume, a fetched record, a check without lag. */
  lastProgressAt: number;
  /** One past the last offset fetched in this assignment; undefined before the first record. */
  readonly nextOffset: number | undefined;
}

/** Broker-side facts, asked only for partitions that look idle. */
export interface StallProbe {
  watermarks(partition: TopicPartition): Promise<{ low: number; high: number }>;
  committedOffset(partition: TopicPartition): Promise<number | undefined>;
}

export interface Stall {
  readonly topic: string;
  readonly partition: number;
  /** Where the partition should be reading: the next offset after the last fetched, else the committed one. */
  readonly position: number;
  /** Whether `position` comes from this assignment's fetches, the committed offset, or the low watermark. */
  readonly positionFrom: 'fetched' | 'committed' | 'low watermark' | 'high watermark';
  readonly highWatermark: number;
  /** Records waiting: high watermark minus position. */
  readonly lag: number;
  /** How long nothing arrived, in ms. */
  readonly idleMs: number;
  /** One sentence, for the log line. */
  readonly reason: string;
}

/**
 * Looks at one partition: undefined if it is not idle past `stallTimeoutMs` or has nothing waiting
 * (then its idle clock restarts, so an idle partition costs one watermark query per `stallTimeoutMs`).
 * Probe failures (say, the broker is down) propagate: no verdict is possible then.
 */
export async function checkPartition(
  part: WatchedPartition,
  probe: StallProbe,
  now: () => number,
  stallTimeoutMs: number,
  /** auto.offset.reset reads from the earliest record; otherwise an uncommitted partition starts at the end. */
  resetToEarliest = true,
): Promise<Stall | undefined> {
  const idleMs = now() - part.lastProgressAt;
  if (idleMs < stallTimeoutMs) return undefined;
  const fetchedBefore = part.nextOffset;
  const { low, high } = await probe.watermarks(part);
  let position = fetchedBefore;
  let positionFrom: Stall['positionFrom'] = 'fetched';
  if (position === undefined) {
    position = await probe.committedOffset(part);
    positionFrom = 'committed';
  }
  if (position === undefined || position < low) {
    // Nothing fetched and nothing committed (or the committed offset was deleted): librdkafka starts
    // from auto.offset.reset: the earliest record, or the end (then nothing is waiting).
    position = resetToEarliest ? low : high;
    positionFrom = resetToEarliest ? 'low watermark' : 'high watermark';
  }
  // Something arrived while we asked: that is progress.
  if (part.nextOffset !== fetchedBefore) return undefined;
  const lag = high - position;
  if (lag <= 0) {
    part.lastProgressAt = now();
    return undefined;
  }
  const seconds = (idleMs / 1000).toFixed(1);
  return {
    topic: part.topic,
    partition: part.partition,
    position,
    positionFrom,
    highWatermark: high,
    lag,
    idleMs: Math.round(idleMs),
    reason:
      `no record fetched for ${seconds} s while ${String(lag)} wait (position ${String(position)} from the ` +
      `${positionFrom} offset, high watermark ${String(high)}), and rxkafka holds nothing back ` +
      `(no backpressure pause, not revoking, not stopping)`,
  };
}
