import type { ConsumerSession } from './consumer-session.js';
import { publish } from './diagnostics.js';
import type { KafkaError } from './errors.js';
import type { PartitionState } from './partition-state.js';
import type { ConsumerPort } from './rdkafka.js';

/** The limits on in-flight and uncommitted records, held by pausing partitions in librdkafka. */
export class Backpressure<R, S> {
  // performance.now() when rxkafka last held consumption back (backpressure, a full buffer, stopping).
  #heldAt = performance.now();
  // Wakes the poll loop when a record settles while it waits for room.
  #onRoom: (() => void) | undefined;
  // Records held back over every partition, as of the last count.
  #heldBack = 0;

  constructor(private readonly session: ConsumerSession<R, S>) {}

  get heldAt(): number {
    return this.#heldAt;
  }

  /** Notes that consumption is held back now. */
  hold(): void {
    this.#heldAt = performance.now();
  }

  /** A record settled or a commit landed: wakes a poll loop waiting for room. */
  room(): void {
    this.#onRoom?.();
  }

  /**
   * At a limit: nothing more is fetched. Records waiting aside for their partition's share count
   * with those in flight, so memory stays within `maxInFlight` and `maxInFlightBytes`.
   */
  isFull(): boolean {
    return this.heldFull() || this.uncommittedFull();
  }

  /**
   * What counts against `maxInFlight`: records in flight, waiting aside, and done behind an unfinished
   * older one of their partition. A crash processes the last again, so with them counted, what it
   * replays beyond the commit lag stays within `maxInFlight` (docs/decisions.md 44).
   */
  recordsHeld(): number {
    const { stats } = this.session;
    return stats.inFlight + stats.waiting + this.#heldBack;
  }

  /** Records held or bytes in flight or waiting aside are at `maxInFlight` or `maxInFlightBytes`. */
  private heldFull(): boolean {
    const { stats, settings } = this.session;
    return (
      this.recordsHeld() >= settings.maxInFlight ||
      stats.inFlightBytes + stats.waitingBytes >= settings.maxInFlightBytes
    );
  }

  private uncommittedFull(): boolean {
    return this.uncommittedCount() >= this.session.settings.maxUncommitted;
  }

  /** Whether a record already fetched (waiting aside) may go downstream now. */
  hasRoomInFlight(): boolean {
    const { stats, settings } = this.session;
    return stats.inFlight + this.#heldBack < settings.maxInFlight && stats.inFlightBytes < settings.maxInFlightBytes;
  }

  /**
   * True when `part` holds at least its share of `maxInFlight` (the limit over the assigned partitions),
   * in flight or done behind its oldest unfinished record, while shares apply
   * (`KafkaSource.sharesInFlight`). A consume batch comes from few partitions; without shares, in key
   * mode a few partitions' keys take the whole budget while workers idle.
   */
  overShare(part: PartitionState): boolean {
    const { settings, assignment, source } = this.session;
    const held = part.offsets.inFlight + part.offsets.heldBack;
    return held >= Math.ceil(settings.maxInFlight / Math.max(1, assignment.size)) && source.sharesInFlight;
  }

  /**
   * True when `part` has held its share of `maxHeldBack` (the limit over the assigned partitions) for
   * `pauseAfter`, still does, and the source holds the whole of it: records completed behind an
   * unfinished older one, which a crash would process again. The partition then waits for its oldest
   * record, and the others go on.
   */
  holdsBackTooMany(part: PartitionState): boolean {
    return part.heldBackTooLong && this.overHeldBackShare(part) && this.#heldBack >= this.session.settings.maxHeldBack;
  }

  private overHeldBackShare(part: PartitionState): boolean {
    return part.offsets.heldBack * Math.max(1, this.session.assignment.size) >= this.session.settings.maxHeldBack;
  }

  /**
   * Sums the held-back records over the partitions, and notes which have held their share at every fetch
   * for `pauseAfter`, per fetched batch rather than per record. With a sink, deliveries complete a
   * partition's records out of order all the time, so a share held back for a moment is normal and
   * holding for it would cost a re-fetch for nothing; a hot key's head of line holds it for good.
   */
  countHeldBack(): void {
    const { assignment, settings } = this.session;
    const now = performance.now();
    for (const state of assignment.values()) {
      if (this.overHeldBackShare(state)) state.overHeldBackShareSince ??= now;
      else state.overHeldBackShareSince = undefined;
      state.heldBackTooLong =
        state.overHeldBackShareSince !== undefined && now - state.overHeldBackShareSince >= settings.pauseAfter;
    }
    this.sumHeldBack();
  }

  /** Sums the held-back records over the partitions: settles change them between fetches. */
  sumHeldBack(): void {
    let total = 0;
    for (const state of this.session.assignment.values()) total += state.offsets.heldBack;
    this.#heldBack = total;
  }

  /** True when maxUncommitted is the only limit reached. */
  onlyUncommittedFull(): boolean {
    return !this.heldFull() && this.uncommittedFull();
  }

  /** Records a crash would replay. */
  uncommittedCount(): number {
    return this.session.assignment.uncommittedCount();
  }

  /** Resolves when a record settles and frees room, or after `timeoutMs`. */
  roomOrTimeout(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.#onRoom = () => {
        clearTimeout(timer);
        this.#onRoom = undefined;
        resolve();
      };
    });
  }

  /**
   * Pauses every assigned partition at the limits (after `pauseAfter`); resumes below the low watermark.
   * While paused, librdkafka discards its prefetch, so memory stays bounded however slow the handlers are.
   */
  apply(consumer: ConsumerPort): void {
    const { session } = this;
    const { stats, settings, assignment } = session;
    const { maxInFlight, maxInFlightBytes, resumeAt } = settings;
    if (!stats.paused && (this.isFull() || !session.accepting)) {
      this.pause(consumer, [...assignment.values()]);
      stats.paused = true;
      stats.pauses++;
      publish('consumer.paused', { inFlight: stats.inFlight, inFlightBytes: stats.inFlightBytes });
    } else if (
      stats.paused &&
      session.accepting &&
      this.recordsHeld() <= maxInFlight * resumeAt &&
      stats.inFlightBytes + stats.waitingBytes <= maxInFlightBytes * resumeAt &&
      this.uncommittedCount() <= settings.maxUncommitted * resumeAt
    ) {
      // Every partition this source paused, not just a list of those assigned now. A revoking one
      // stays paused until it is unassigned (revoke() resumes it then); its records would be dropped.
      // One with records waiting for its share stays paused until they are dispatched.
      this.resume(
        consumer,
        [...assignment.values()].filter((state) => state.paused && !state.revoking && state.waiting.length === 0),
      );
      stats.paused = false;
      publish('consumer.resumed', { inFlight: stats.inFlight, inFlightBytes: stats.inFlightBytes });
    }
    if (stats.paused || !session.accepting || this.isFull()) this.#heldAt = performance.now();
  }

  /** Pauses in librdkafka and records it per partition, so the source's view is the consumer's state. */
  pause(consumer: ConsumerPort, states: readonly PartitionState[]): void {
    const toPause = states.filter((state) => !state.paused);
    if (toPause.length === 0) return;
    try {
      consumer.pause(toPause.map(({ topic, partition }) => ({ topic, partition })));
    } catch (error) {
      this.session.nativeError(error as KafkaError);
      return;
    }
    for (const state of toPause) state.paused = true;
    this.session.stats.pausedPartitions += toPause.length;
  }

  /**
   * Resumes in librdkafka. `force` also resumes partitions this source does not hold paused: librdkafka
   * keeps an application's pause on a partition across unassign and re-assign, so a partition handed
   * back may still be paused from an earlier assignment (resuming one that is not paused is a no-op).
   */
  resume(consumer: ConsumerPort, states: readonly PartitionState[], force = false): void {
    const toResume = force ? states : states.filter((state) => state.paused);
    if (toResume.length === 0) return;
    try {
      consumer.resume(toResume.map(({ topic, partition }) => ({ topic, partition })));
    } catch (error) {
      this.session.nativeError(error as KafkaError);
      return;
    }
    const now = performance.now();
    for (const state of toResume) {
      if (state.paused) this.session.stats.pausedPartitions--;
      state.paused = false;
      // Fetching restarts now; the stall guard measures idleness from here.
      state.lastProgressAt = now;
    }
  }
}
