import type { ConsumerSession } from './consumer-session.js';
import { publish } from './diagnostics.js';
import type { PartitionState } from './partition-state.js';
import type { ConsumerPort, TopicPartition } from './rdkafka.js';
import { checkPartition, type Stall } from './stall-guard.js';

// Bounds the broker round trips of the stall guard and its recovery.
const PROBE_TIMEOUT_MS = 5000;

/**
 * The stall guard (DESIGN 3a) run against the live assignment: partitions with lag that fetched nothing
 * for `stallTimeout` while nothing held them back are logged, counted, resumed and re-seeked.
 */
export class StallWatch<R, S> {
  // A check is running: one at a time.
  #checking = false;

  constructor(private readonly session: ConsumerSession<R, S>) {}

  async check(): Promise<void> {
    const { session } = this;
    const consumer = session.consumer;
    if (consumer === undefined || this.#checking || session.source.state !== 'running' || !session.accepting) return;
    if (session.stats.paused || session.backpressure.isFull()) return;
    this.#checking = true;
    try {
      const { stallTimeout } = session.settings;
      // Idle time only counts since rxkafka last held consumption back.
      const heldAt = session.backpressure.heldAt;
      const now = (): number => performance.now();
      const probe = {
        watermarks: (tp: TopicPartition) => consumer.watermarks(tp, PROBE_TIMEOUT_MS),
        committedOffset: (tp: TopicPartition) => consumer.committedOffset(tp, PROBE_TIMEOUT_MS),
      };
      for (const state of [...session.assignment.values()]) {
        if (!this.idleAndFree(state, heldAt)) continue;
        // Held back is not idle: the clock starts when rxkafka last let go.
        state.lastProgressAt = Math.max(state.lastProgressAt, heldAt);
        let stall: Stall | undefined;
        try {
          stall = await checkPartition(state, probe, now, stallTimeout, this.resetsToEarliest());
        } catch {
          // No verdict without the broker (it may be restarting); the next round asks again.
          continue;
        }
        // Still the same assignment, nothing fetched meanwhile, and still not held back?
        if (stall === undefined || !this.idleAndFree(state, heldAt)) continue;
        await this.recover(consumer, state, stall);
      }
    } finally {
      this.#checking = false;
    }
  }

  private resetsToEarliest(): boolean {
    const reset = this.session.settings.librdkafka['auto.offset.reset'];
    return reset === 'earliest' || reset === 'smallest' || reset === 'beginning';
  }

  /** Assigned now, not paused, not revoking, and rxkafka has not held consumption back since `heldAt`. */
  private idleAndFree(state: PartitionState, heldAt: number): boolean {
    const { session } = this;
    return (
      session.assignment.isCurrent(state) &&
      !state.revoking &&
      !state.paused &&
      !session.stats.paused &&
      session.accepting &&
      session.backpressure.heldAt === heldAt
    );
  }

  private async recover(consumer: ConsumerPort, state: PartitionState, stall: Stall): Promise<void> {
    const { stats, settings } = this.session;
    stats.stalls++;
    state.lastProgressAt = performance.now();
    const { topic, partition } = state;
    settings.logger.warn(
      {
        event: 'stalled',
        topic,
        partition,
        position: stall.position,
        highWatermark: stall.highWatermark,
        lag: stall.lag,
        idleMs: stall.idleMs,
      },
      `${topic}[${String(partition)}] stalled: ${stall.reason}; resuming it` +
        (stall.positionFrom === 'low watermark' ? '' : ` and seeking to ${String(stall.position)}`),
    );
    publish('consumer.stalled', { ...stall });
    try {
      // Clears any pause librdkafka holds on the partition, whoever set it.
      consumer.resume([{ topic, partition }]);
      // Restarts the partition's fetcher at the next record this assignment has not seen. Before the
      // first fetch without a committed offset, librdkafka's own reset already decides where to start.
      const offset = state.nextOffset ?? (stall.positionFrom === 'committed' ? stall.position : undefined);
      if (offset !== undefined) await consumer.seek({ topic, partition, offset }, PROBE_TIMEOUT_MS);
    } catch (error) {
      settings.logger.error(
        { event: 'stalled', topic, partition, err: error },
        `${topic}[${String(partition)}] stalled and recovery failed; trying again in ${String(settings.stallTimeout)} ms`,
      );
    }
  }
}
