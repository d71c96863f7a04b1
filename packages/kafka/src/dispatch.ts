import type { Subscriber } from 'rxjs';
import { type ChainInput, createContext, invalidOutcome, type SourceRecord } from '@rxkafka/core';
import type { ConsumerSession } from './consumer-session.js';
import { decodeRecord, type Decoded } from './decode.js';
import { timerFor } from './option-timer.js';
import { channel } from './diagnostics.js';
import type { SourceStats } from './from-kafka.js';
import type { PartitionState } from './partition-state.js';

// Per-record events: their messages are built only while someone subscribes.
const consumedChannel = channel('consumer.record');
const settledChannel = channel('consumer.settled');

/** Hands fetched records downstream in order, and tracks each until it is acknowledged or released. */
export class Dispatcher<R, S> {
  // Records fetched while only maxUncommitted was reached, waiting for room (bounded by batchSize).
  readonly #stash: { readonly record: SourceRecord; readonly part: PartitionState | undefined }[] = [];
  // Resolves a stop()'s wait when nothing is in flight.
  #onIdle: (() => void) | undefined;
  // The last record waiting for an asynchronous decode, if any; later records are emitted after it.
  #decoding: Promise<void> | undefined;
  // A dispatchWaiting() is scheduled: records settle in bursts, one pass serves them all.
  #waitingScheduled = false;

  constructor(
    private readonly session: ConsumerSession<R, S>,
    private readonly subscriber: Subscriber<ChainInput<R, S>>,
  ) {}

  /** How many fetched records wait in the stash. */
  get stashed(): number {
    return this.#stash.length;
  }

  /** Keeps fetched records aside, in order, with the assignment they were fetched under. */
  stashAll(records: readonly SourceRecord[]): void {
    for (const record of records)
      this.#stash.push({ record, part: this.session.assignment.get(record.topic, record.partition) });
  }

  /** Dispatches stashed records while there is room; those of a partition since revoked are dropped. */
  dispatchStash(): void {
    while (this.#stash.length > 0 && !this.session.backpressure.isFull()) {
      const entry = this.#stash.shift();
      if (entry === undefined) return;
      const { record, part } = entry;
      if (part === undefined || !this.session.assignment.isCurrent(part)) {
        // Fetched under an assignment that is gone: never tracked, so the next owner reads it again.
        this.session.stats.dropped++;
        continue;
      }
      this.dispatch(record);
    }
  }

  /** Resolves true once nothing is in flight, or false after `timeoutMs`. */
  idle(timeoutMs: number): Promise<boolean> {
    if (this.session.stats.inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = timerFor(timeoutMs, () => {
        resolve(false);
      });
      this.#onIdle = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  dispatch(source: SourceRecord): void {
    const { session } = this;
    const part = session.assignment.get(source.topic, source.partition);
    if (!session.accepting || part === undefined || part.revoking) {
      // Never tracked, so never committed: the partition's next owner (or our next run) reads it again.
      session.stats.dropped++;
      return;
    }
    part.lastProgressAt = performance.now();
    if (part.waiting.length === 0) {
      const { backpressure } = session;
      part.waitingFor = backpressure.overShare(part)
        ? 'maxInFlight'
        : backpressure.holdsBackTooMany(part)
          ? 'maxHeldBack'
          : undefined;
      if (part.waitingFor === undefined) {
        this.track(source, part);
        return;
      }
      if (part.waitingFor === 'maxHeldBack') session.stats.heldBackHolds++;
    }
    // Behind its partition's waiting records, in order; the poll loop pauses the partition.
    part.waiting.push(source);
    session.stats.waiting++;
    session.stats.waitingBytes += recordBytes(source);
  }

  /** The partitions whose records wait aside and that still fetch: the poll loop pauses them. */
  overShare(): PartitionState[] {
    return [...this.session.assignment.values()].filter((part) => part.waiting.length > 0 && !part.paused);
  }

  /**
   * Dispatches waiting records of partitions back under their share, while there is room. A partition
   * whose list empties is resumed (unless backpressure holds everything); a revoked one's are dropped.
   */
  dispatchWaiting(): void {
    const { session } = this;
    const { stats, backpressure } = session;
    for (const part of session.assignment.values()) {
      const { waiting } = part;
      if (waiting.length === 0) continue;
      if (!session.accepting || part.revoking) {
        dropWaiting(part, stats);
        continue;
      }
      while (
        waiting.length > 0 &&
        backpressure.hasRoomInFlight() &&
        !backpressure.overShare(part) &&
        !backpressure.holdsBackTooMany(part)
      ) {
        const record = waiting.shift() as SourceRecord;
        stats.waiting--;
        stats.waitingBytes -= recordBytes(record);
        this.track(record, part);
      }
      const consumer = session.consumer;
      if (waiting.length === 0 && part.paused && !stats.paused && consumer !== undefined) {
        backpressure.resume(consumer, [part]);
      }
    }
  }

  /** Hands a record of `part` downstream and tracks it until it is acknowledged or released. */
  private track(source: SourceRecord, part: PartitionState): void {
    // Already tracked in this assignment (a stall recovery's seek can race a fetch): it is in hand.
    if (part.nextOffset !== undefined && source.offset < part.nextOffset) return;
    part.nextOffset = source.offset + 1;
    const { session } = this;
    const { stats, settings } = session;
    const bytes = recordBytes(source);
    const ticket = part.offsets.track(source.offset);
    stats.consumed++;
    stats.inFlight++;
    stats.inFlightBytes += bytes;
    if (stats.inFlight > stats.peakInFlight) stats.peakInFlight = stats.inFlight;
    if (stats.inFlightBytes > stats.peakInFlightBytes) stats.peakInFlightBytes = stats.inFlightBytes;

    if (consumedChannel.hasSubscribers) consumedChannel.publish({ groupId: settings.groupId, source, bytes });
    const { ack, nack } = new TrackedRecord(this, source, part, ticket, bytes);

    const decoded = decodeRecord(source, settings.decode, settings.schema);
    if (this.#decoding === undefined && !(decoded instanceof Promise)) {
      this.emit(decoded, source, part, ack, nack);
      return;
    }
    // Only records that wait for a decode (or behind one) pay for a closure.
    this.emitInOrder(
      decoded,
      (result) => {
        this.emit(result, source, part, ack, nack);
      },
      nack,
    );
  }

  /** A tracked record was acknowledged (`done`) or released; called once per record. */
  settled(source: SourceRecord, part: PartitionState, ticket: number, bytes: number, done: boolean): void {
    const { session } = this;
    const { stats } = session;
    stats.inFlight--;
    stats.inFlightBytes -= bytes;
    if (settledChannel.hasSubscribers) {
      settledChannel.publish({ groupId: session.settings.groupId, source, bytes, done });
    }
    if (done) session.commits.completed(part, part.offsets.done(ticket));
    else part.offsets.release(ticket);
    session.backpressure.room();
    if (part.waiting.length > 0) this.scheduleWaiting();
    if (part.revoking && part.offsets.inFlight === 0) part.onDrained?.();
    if (stats.inFlight === 0) this.#onIdle?.();
  }

  /** Settles arrive inside delivery callbacks: waiting records are dispatched after them, not within. */
  private scheduleWaiting(): void {
    if (this.#waitingScheduled) return;
    this.#waitingScheduled = true;
    setImmediate(() => {
      this.#waitingScheduled = false;
      // Settles since the poll loop last counted changed what is held back.
      this.session.backpressure.sumHeldBack();
      this.dispatchWaiting();
    });
  }

  /** Hands a decoded record downstream: a context to run, or an `invalid` outcome. */
  private emit(
    decoded: Decoded<R>,
    source: SourceRecord,
    part: PartitionState,
    ack: () => void,
    nack: () => void,
  ): void {
    if (!decoded.ok) {
      this.session.stats.invalid++;
      this.subscriber.next(invalidOutcome(source, decoded.error, ack, nack));
      return;
    }
    this.subscriber.next(
      createContext({
        record: decoded.record,
        source,
        state: this.session.settings.makeState(),
        signal: part.controller.signal,
        ack,
        nack,
      }),
    );
  }

  /**
   * An asynchronous decoder or validator must not let a record overtake an earlier one: once one
   * record waits for its decoding, the records fetched after it wait their turn behind it.
   */
  private emitInOrder(
    decoded: Decoded<R> | Promise<Decoded<R>>,
    emit: (decoded: Decoded<R>) => void,
    release: () => void,
  ): void {
    const turn = (this.#decoding ?? Promise.resolve()).then(() => decoded);
    const emitted = turn.then((result) => {
      // Unsubscribed meanwhile: released uncommitted, so it is consumed again.
      if (this.subscriber.closed) release();
      else emit(result);
    });
    this.#decoding = emitted;
    void emitted.finally(() => {
      if (this.#decoding === emitted) this.#decoding = undefined;
    });
  }
}

/**
 * A record handed downstream, until its sink acknowledges or releases it (whichever comes first).
 * One object and two bound functions per record in flight, not a closure scope shared by three
 * closures: records in flight are what every young-generation collection copies (docs/decisions.md 63).
 */
class TrackedRecord {
  #settled = false;
  readonly ack: () => void;
  readonly nack: () => void;

  constructor(
    private readonly dispatcher: Pick<Dispatcher<unknown, unknown>, 'settled'>,
    private readonly source: SourceRecord,
    private readonly part: PartitionState,
    private readonly ticket: number,
    private readonly bytes: number,
  ) {
    // Without bound arguments: those would be one more array each.
    this.ack = this.acknowledge.bind(this);
    this.nack = this.release.bind(this);
  }

  private acknowledge(): void {
    this.settle(true);
  }

  private release(): void {
    this.settle(false);
  }

  private settle(done: boolean): void {
    if (this.#settled) return;
    this.#settled = true;
    this.dispatcher.settled(this.source, this.part, this.ticket, this.bytes, done);
  }
}

const recordBytes = (source: SourceRecord): number => (source.value?.length ?? 0) + (source.key?.length ?? 0);

/** Drops the records waiting aside for `part`: never tracked, so never committed; they are read again. */
export function dropWaiting(part: PartitionState, stats: SourceStats): void {
  stats.dropped += part.waiting.length;
  stats.waiting -= part.waiting.length;
  for (const record of part.waiting) stats.waitingBytes -= recordBytes(record);
  part.waiting.length = 0;
}
