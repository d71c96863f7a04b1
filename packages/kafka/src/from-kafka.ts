import { setMaxListeners } from 'node:events';
import { Observable, type Subscriber, type TeardownLogic } from 'rxjs';
import { type ChainInput, createContext, invalidOutcome, type SourceRecord } from '@rxkafka/core';
import { resolveSettings, type FromKafkaOptions, type Settings } from './from-kafka-options.js';
import { decodeRecord, type Decoded } from './decode.js';
import { channel, publish, publishStatistics } from './diagnostics.js';
import {
  AuthenticationError,
  AuthorizationError,
  KafkaError,
  LifecycleError,
  PartitionRevokedError,
  ShutdownError,
} from './errors.js';
import { PartitionOffsets, type Ticket } from './partition-offsets.js';
import { ConsumerPort, type TopicPartition, type TopicPartitionOffset } from './rdkafka.js';
import { checkPartition, type Stall, type WatchedPartition } from './stall-guard.js';

export type { FromKafkaOptions } from './from-kafka-options.js';

export type SourceState = 'idle' | 'connecting' | 'running' | 'draining' | 'closing' | 'closed';

/** A record holding its partition's commit point back while later records of the partition completed. */
export interface HeadOfLine {
  readonly topic: string;
  readonly partition: number;
  /** The oldest record of the partition not done: the commit cannot pass it. */
  readonly offset: number;
  /** True if it was aborted (revoke or shutdown) and waits to be redelivered, false if still in flight. */
  readonly released: boolean;
  /** Completed records behind it that cannot be committed yet (processed again after a crash). */
  readonly heldBack: number;
  /** How long it has been the head, in ms (measured once per second). */
  readonly forMs: number;
}

/** The limits a source works within, for status pages and stall diagnosis. */
export interface SourceLimits {
  readonly maxInFlight: number;
  readonly maxInFlightBytes: number;
  readonly stallTimeout: number;
  readonly headOfLineWarnAfter: number;
}

/** One assigned partition as the source sees it now. */
export interface PartitionStatus {
  readonly topic: string;
  readonly partition: number;
  /** Held paused in librdkafka by this source (backpressure or stopping). */
  readonly paused: boolean;
  /** Being revoked: draining, nothing new is dispatched. */
  readonly revoking: boolean;
  /** Records of this partition handed downstream and not yet settled. */
  readonly inFlight: number;
  /** One past the last offset fetched in this assignment; undefined before the first record. */
  readonly nextOffset: number | undefined;
  /** The offset the next commit would store (one past the highest contiguous done record). */
  readonly committable: number | undefined;
  /** How long since the last sign of progress (a fetch, a resume, the assignment), in ms. */
  readonly idleMs: number;
  /** The oldest record not done, holding the commit point back, if any. */
  readonly head: { readonly offset: number; readonly released: boolean; readonly heldBack: number } | undefined;
}

/** Live counters of a source, for progress lines and tests. */
export class SourceStats {
  consumed = 0;
  invalid = 0;
  inFlight = 0;
  inFlightBytes = 0;
  peakInFlight = 0;
  peakInFlightBytes = 0;
  pauses = 0;
  /** Backpressure holds: rxkafka paused every assigned partition (or is stopping). */
  paused = false;
  /** Partitions rxkafka holds paused in librdkafka right now: the consumer's real state, per partition. */
  pausedPartitions = 0;
  /** Partitions found stalled (lag, no fetch, nothing holding them back), logged and recovered. */
  stalls = 0;
  /** Completed records that cannot be committed yet because an older record of their partition is not done. */
  heldBack = 0;
  /** Records fetched and not covered by a commit (a crash would replay them). Refreshed every second. */
  uncommitted = 0;
  /** Per partition, the record holding the commit back, if completed records wait behind it. Refreshed every second. */
  headOfLine: readonly HeadOfLine[] = [];
  commits = 0;
  commitErrors = 0;
  assigned = 0;
  revoked = 0;
  /** Records fetched but dropped because their partition was being revoked or the source was stopping. */
  dropped = 0;
}

/**
 * A Kafka consumer group as an Observable of contexts (and `invalid` outcomes).
 * Single use: one subscription, one consumer. `stop()` (or the `signal`) drains and closes it.
 */
export class KafkaSource<R, S> extends Observable<ChainInput<R, S>> implements AsyncDisposable {
  readonly stats = new SourceStats();
  #session: ConsumerSession<R, S> | undefined;
  #state: SourceState = 'idle';
  readonly #closed: Promise<void>;
  #markClosed!: () => void;
  readonly #settings: Settings<R, S>;

  constructor(options: FromKafkaOptions<R, S>) {
    const settings = resolveSettings(options);
    // `this` is unusable before super(): subscriptions reach attach() through this indirection.
    let attach = (_subscriber: Subscriber<ChainInput<R, S>>): TeardownLogic => undefined;
    super((subscriber) => attach(subscriber));
    attach = (subscriber) => this.attach(subscriber, settings);
    this.#settings = settings;
    this.#closed = new Promise((resolve) => (this.#markClosed = resolve));
    settings.signal?.addEventListener('abort', () => void this.stop(), { once: true });
  }

  get state(): SourceState {
    return this.#state;
  }

  /** The consumer group. */
  get groupId(): string {
    return this.#settings.groupId;
  }

  get limits(): SourceLimits {
    const { maxInFlight, maxInFlightBytes, stallTimeout, headOfLineWarnAfter } = this.#settings;
    return { maxInFlight, maxInFlightBytes, stallTimeout, headOfLineWarnAfter };
  }

  /** The assigned partitions now (empty before the first assignment and after close). */
  partitions(): PartitionStatus[] {
    return this.#session?.partitions() ?? [];
  }

  /** Resolves once the consumer has committed, left the group and disconnected. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /**
   * Graceful stop: no new records; in-flight ones get `drainTimeout` to settle, then are aborted;
   * the final commit is made; the stream completes; the consumer leaves the group. Idempotent.
   */
  stop(): Promise<void> {
    if (this.#state === 'idle') this.setState('closed');
    void this.#session?.stop();
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /** @internal */
  setState(state: SourceState): void {
    this.#state = state;
    publish('consumer.state', { state });
    if (state === 'closed') this.#markClosed();
  }

  private attach(subscriber: Subscriber<ChainInput<R, S>>, settings: Settings<R, S>): () => void {
    if (this.#state !== 'idle') {
      subscriber.error(new LifecycleError('subscribe to a fromKafka source', this.#state));
      return () => undefined;
    }
    const session = new ConsumerSession(this, subscriber, settings);
    this.#session = session;
    session.start();
    return () => {
      session.teardown();
    };
  }
}

/**
 * Creates a Kafka consumer source. Options are validated now; nothing native runs until subscribe.
 *
 * @example
 * ```ts
 * const source = fromKafka({ brokers, groupId: 'scorer', topics: ['orders'], schema: Order });
 * source.pipe(runChain([validate, score]), toKafka({ brokers, deadLetterTopic: 'orders.dlq' })).subscribe();
 * ```
 */
export function fromKafka<R, S = Record<string, unknown>>(options: FromKafkaOptions<R, S>): KafkaSource<R, S> {
  return new KafkaSource(options);
}

/** What rxkafka keeps per assigned partition. Replaced on every assignment, which acts as its generation. */
class PartitionState implements WatchedPartition {
  readonly offsets = new PartitionOffsets();
  /** Aborts the signals of this partition's records on revoke or shutdown. */
  readonly controller = new AbortController();
  revoking = false;
  /** Whether rxkafka has this partition paused in librdkafka (set only with the native call). */
  paused = false;
  /** Resolves a pending drain wait when the last in-flight record settles. */
  onDrained: (() => void) | undefined;
  /** One past the last offset fetched in this assignment. */
  nextOffset: number | undefined;
  lastProgressAt = performance.now();
  /** The head-of-line record last seen, since when, and whether it was logged. */
  headTicket: Ticket | undefined;
  headSince = 0;
  headWarned = false;

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {
    // Every in-flight record listens on this signal.
    setMaxListeners(0, this.controller.signal);
  }
}

const tpKey = (topic: string, partition: number): string => `${topic}\u0000${String(partition)}`;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const WATCH_INTERVAL_MS = 1000;

// Per-record events: their messages are built only while someone subscribes.
const consumedChannel = channel('consumer.record');
const settledChannel = channel('consumer.settled');
// Bounds the broker round trips of the stall guard and its recovery.
const PROBE_TIMEOUT_MS = 5000;

/** One subscription's consumer: the poll loop, backpressure, offsets and rebalances. */
class ConsumerSession<R, S> {
  #consumer: ConsumerPort | undefined;
  // Assigned partitions, keyed by topic and partition.
  readonly #partitions = new Map<string, PartitionState>();
  // False once stopping: fetched records are dropped (and redelivered later) instead of dispatched.
  #accepting = true;
  // Records completed since the last commit was sent.
  #doneSinceCommit = 0;
  // A commit was sent and its result has not arrived.
  #commitPending = false;
  #commitTimer: NodeJS.Timeout | undefined;
  // Records fetched while only maxUncommitted was reached, waiting for room (bounded by batchSize).
  readonly #stash: { readonly record: SourceRecord; readonly part: PartitionState | undefined }[] = [];
  // Wakes the poll loop when a record settles while it waits for room.
  #onRoom: (() => void) | undefined;
  // Resolves a stop()'s wait when nothing is in flight.
  #onIdle: (() => void) | undefined;
  #stopping: Promise<void> | undefined;
  #tornDown = false;
  // Head-of-line stats, the head-of-line log line and the stall guard, once a second.
  #watchTimer: NodeJS.Timeout | undefined;
  // performance.now() when rxkafka last held consumption back (backpressure, a full buffer, stopping).
  #heldAt = performance.now();
  #checkingStalls = false;
  // performance.now() when the pending asynchronous commit was sent.
  #commitSentAt = 0;
  // The last record waiting for an asynchronous decode, if any; later records are emitted after it.
  #decoding: Promise<void> | undefined;

  constructor(
    private readonly source: KafkaSource<R, S>,
    private readonly subscriber: Subscriber<ChainInput<R, S>>,
    private readonly settings: Settings<R, S>,
  ) {}

  private get stats(): SourceStats {
    return this.source.stats;
  }

  partitions(): PartitionStatus[] {
    const now = performance.now();
    return [...this.#partitions.values()].map((state) => {
      const head = state.offsets.head;
      return {
        topic: state.topic,
        partition: state.partition,
        paused: state.paused,
        revoking: state.revoking,
        inFlight: state.offsets.inFlight,
        nextOffset: state.nextOffset,
        committable: state.offsets.committable,
        idleMs: Math.round(now - state.lastProgressAt),
        head:
          head === undefined
            ? undefined
            : { offset: head.offset, released: head.released, heldBack: state.offsets.heldBack },
      };
    });
  }

  start(): void {
    this.source.setState('connecting');
    let consumer: ConsumerPort;
    try {
      consumer = new ConsumerPort(this.settings.librdkafka, {
        rebalance: (kind, partitions) => {
          if (kind === 'assign') this.assign(partitions);
          else void this.revoke(partitions);
        },
        committed: (error, offsets) => {
          this.committed(error, offsets);
        },
        error: (error) => {
          this.nativeError(error);
        },
        stats: (json) => {
          publishStatistics('consumer.stats', this.settings.groupId, json);
        },
      });
    } catch (error) {
      this.subscriber.error(error);
      return;
    }
    this.#consumer = consumer;
    consumer.connect(this.settings.connectTimeout).then(
      () => {
        if (this.#tornDown) {
          // Stopped while connecting: nothing was consumed, so there is nothing to commit.
          void consumer.disconnect().then(() => {
            this.source.setState('closed');
          });
          return;
        }
        consumer.subscribe(this.settings.topics, this.settings.pollTimeout);
        this.source.setState('running');
        this.#commitTimer = setInterval(() => {
          this.commitAsync();
        }, this.settings.commitInterval);
        this.#commitTimer.unref();
        this.#watchTimer = setInterval(() => {
          this.watch();
        }, WATCH_INTERVAL_MS);
        this.#watchTimer.unref();
        void this.pollLoop(consumer);
      },
      (error: unknown) => {
        // Failing the stream tears it down, which leaves the close to the connect callback: this one.
        if (!this.#tornDown) this.subscriber.error(error);
        this.source.setState('closed');
      },
    );
  }

  private async pollLoop(consumer: ConsumerPort): Promise<void> {
    const { batchSize, maxInFlight, pauseAfter } = this.settings;
    const { stats } = this;
    // When in-flight records first hit a limit; pausing waits a moment, since a resume costs a re-fetch.
    let fullSince: number | undefined;
    while (this.source.state === 'running' || this.source.state === 'draining') {
      this.dispatchStash();
      if (this.isFull() && !stats.paused && this.#accepting) {
        fullSince ??= performance.now();
        const waited = performance.now() - fullSince;
        if (waited < pauseAfter) {
          this.#heldAt = performance.now();
          if (this.onlyUncommittedFull() && this.#stash.length < batchSize) {
            // At maxUncommitted a commit frees room, and its result is only served inside consume:
            // poll one record at a time, keeping what arrives aside (untracked, so never replayed).
            this.commitAsync();
            let records: SourceRecord[];
            try {
              records = await consumer.consume(1);
            } catch (error) {
              if (!this.nativeError(error as KafkaError)) return;
              await sleep(100);
              continue;
            }
            this.stashAll(records);
            continue;
          }
          await this.roomOrTimeout(Math.min(pauseAfter - waited, this.settings.pollTimeout * 4));
          continue;
        }
      } else if (!this.isFull()) {
        fullSince = undefined;
      }
      this.applyBackpressure(consumer);
      // Poll even while paused: rebalance and commit callbacks are only served inside consume.
      const room = Math.min(maxInFlight - stats.inFlight, this.settings.maxUncommitted - this.uncommittedCount());
      const max = stats.paused || room <= 0 ? 1 : Math.min(batchSize, room);
      let records: SourceRecord[];
      try {
        records = await consumer.consume(max);
      } catch (error) {
        if (!this.nativeError(error as KafkaError)) return;
        await sleep(100);
        continue;
      }
      if (this.#stash.length > 0) this.stashAll(records);
      else for (const record of records) this.dispatch(record);
    }
  }

  /** True when maxUncommitted is the only limit reached. */
  private onlyUncommittedFull(): boolean {
    return (
      this.stats.inFlight < this.settings.maxInFlight &&
      this.stats.inFlightBytes < this.settings.maxInFlightBytes &&
      this.uncommittedCount() >= this.settings.maxUncommitted
    );
  }

  /** Keeps fetched records aside, in order, with the assignment they were fetched under. */
  private stashAll(records: readonly SourceRecord[]): void {
    for (const record of records)
      this.#stash.push({ record, part: this.#partitions.get(tpKey(record.topic, record.partition)) });
  }

  /** Dispatches stashed records while there is room; those of a partition since revoked are dropped. */
  private dispatchStash(): void {
    while (this.#stash.length > 0 && !this.isFull()) {
      const entry = this.#stash.shift();
      if (entry === undefined) return;
      const { record, part } = entry;
      if (part === undefined || this.#partitions.get(tpKey(record.topic, record.partition)) !== part) {
        // Fetched under an assignment that is gone: never tracked, so the next owner reads it again.
        this.stats.dropped++;
        continue;
      }
      this.dispatch(record);
    }
  }

  private isFull(): boolean {
    return (
      this.stats.inFlight >= this.settings.maxInFlight ||
      this.stats.inFlightBytes >= this.settings.maxInFlightBytes ||
      this.uncommittedCount() >= this.settings.maxUncommitted
    );
  }

  /** Records a crash would replay; summed only when maxUncommitted is set. */
  private uncommittedCount(): number {
    if (this.settings.maxUncommitted === Infinity) return 0;
    let count = 0;
    for (const state of this.#partitions.values()) count += state.offsets.uncommittedCount;
    return count;
  }

  /** Resolves when a record settles and frees room, or after `timeoutMs`. */
  private roomOrTimeout(timeoutMs: number): Promise<void> {
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
  private applyBackpressure(consumer: ConsumerPort): void {
    const { maxInFlight, maxInFlightBytes, resumeAt } = this.settings;
    const { stats } = this;
    if (!stats.paused && (this.isFull() || !this.#accepting)) {
      this.pausePartitions(consumer, [...this.#partitions.values()]);
      stats.paused = true;
      stats.pauses++;
      publish('consumer.paused', { inFlight: stats.inFlight, inFlightBytes: stats.inFlightBytes });
    } else if (
      stats.paused &&
      this.#accepting &&
      stats.inFlight <= maxInFlight * resumeAt &&
      stats.inFlightBytes <= maxInFlightBytes * resumeAt &&
      this.uncommittedCount() <= this.settings.maxUncommitted * resumeAt
    ) {
      // Every partition this source paused, not just a list of those assigned now. A revoking one
      // stays paused until it is unassigned (revoke() resumes it then); its records would be dropped.
      this.resumePartitions(
        consumer,
        [...this.#partitions.values()].filter((state) => state.paused && !state.revoking),
      );
      stats.paused = false;
      publish('consumer.resumed', { inFlight: stats.inFlight, inFlightBytes: stats.inFlightBytes });
    }
    if (stats.paused || !this.#accepting || this.isFull()) this.#heldAt = performance.now();
  }

  /** Pauses in librdkafka and records it per partition, so the source's view is the consumer's state. */
  private pausePartitions(consumer: ConsumerPort, states: readonly PartitionState[]): void {
    const toPause = states.filter((state) => !state.paused);
    if (toPause.length === 0) return;
    try {
      consumer.pause(toPause.map(({ topic, partition }) => ({ topic, partition })));
    } catch (error) {
      this.nativeError(error as KafkaError);
      return;
    }
    for (const state of toPause) state.paused = true;
    this.stats.pausedPartitions += toPause.length;
  }

  /**
   * Resumes in librdkafka. `force` also resumes partitions this source does not hold paused: librdkafka
   * keeps an application's pause on a partition across unassign and re-assign, so a partition handed
   * back may still be paused from an earlier assignment (resuming one that is not paused is a no-op).
   */
  private resumePartitions(consumer: ConsumerPort, states: readonly PartitionState[], force = false): void {
    const toResume = force ? states : states.filter((state) => state.paused);
    if (toResume.length === 0) return;
    try {
      consumer.resume(toResume.map(({ topic, partition }) => ({ topic, partition })));
    } catch (error) {
      this.nativeError(error as KafkaError);
      return;
    }
    const now = performance.now();
    for (const state of toResume) {
      if (state.paused) this.stats.pausedPartitions--;
      state.paused = false;
      // Fetching restarts now; the stall guard measures idleness from here.
      state.lastProgressAt = now;
    }
  }

  /** Once a second: head-of-line stats and warnings, then the stall guard. */
  private watch(): void {
    const now = performance.now();
    const { stats, settings } = this;
    const heads: HeadOfLine[] = [];
    let heldBack = 0;
    for (const state of this.#partitions.values()) {
      const head = state.offsets.head;
      if (head === undefined) {
        state.headTicket = undefined;
        continue;
      }
      if (head.ticket !== state.headTicket) {
        state.headTicket = head.ticket;
        state.headSince = now;
        state.headWarned = false;
      }
      const behind = state.offsets.heldBack;
      if (behind === 0) continue;
      heldBack += behind;
      const forMs = Math.round(now - state.headSince);
      const entry = {
        topic: state.topic,
        partition: state.partition,
        offset: head.offset,
        released: head.released,
        heldBack: behind,
        forMs,
      };
      heads.push(entry);
      if (forMs >= settings.headOfLineWarnAfter && !state.headWarned) {
        state.headWarned = true;
        settings.logger.warn(
          { ...entry, event: 'head-of-line' },
          `${state.topic}[${String(state.partition)}]@${String(head.offset)} has held the commit point back for ` +
            `${(forMs / 1000).toFixed(1)} s (${head.released ? 'aborted, awaiting redelivery' : 'still in flight'}); ` +
            `${String(behind)} completed records behind it would be processed again after a crash`,
        );
      }
    }
    stats.headOfLine = heads;
    stats.heldBack = heldBack;
    let uncommitted = 0;
    for (const state of this.#partitions.values()) uncommitted += state.offsets.uncommittedCount;
    stats.uncommitted = uncommitted;
    void this.checkStalls();
  }

  /**
   * The stall guard (DESIGN 3a): partitions with lag that fetched nothing for `stallTimeout` while
   * nothing held them back are logged, counted, resumed and re-seeked. One check at a time.
   */
  private async checkStalls(): Promise<void> {
    const consumer = this.#consumer;
    if (consumer === undefined || this.#checkingStalls || this.source.state !== 'running' || !this.#accepting) return;
    if (this.stats.paused || this.isFull()) return;
    this.#checkingStalls = true;
    try {
      const { stallTimeout } = this.settings;
      // Idle time only counts since rxkafka last held consumption back.
      const heldAt = this.#heldAt;
      const now = (): number => performance.now();
      const probe = {
        watermarks: (tp: TopicPartition) => consumer.watermarks(tp, PROBE_TIMEOUT_MS),
        committedOffset: (tp: TopicPartition) => consumer.committedOffset(tp, PROBE_TIMEOUT_MS),
      };
      for (const state of [...this.#partitions.values()]) {
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
        await this.recoverStall(consumer, state, stall);
      }
    } finally {
      this.#checkingStalls = false;
    }
  }

  private resetsToEarliest(): boolean {
    const reset = this.settings.librdkafka['auto.offset.reset'];
    return reset === 'earliest' || reset === 'smallest' || reset === 'beginning';
  }

  /** Assigned now, not paused, not revoking, and rxkafka has not held consumption back since `heldAt`. */
  private idleAndFree(state: PartitionState, heldAt: number): boolean {
    return (
      this.#partitions.get(tpKey(state.topic, state.partition)) === state &&
      !state.revoking &&
      !state.paused &&
      !this.stats.paused &&
      this.#accepting &&
      this.#heldAt === heldAt
    );
  }

  private async recoverStall(consumer: ConsumerPort, state: PartitionState, stall: Stall): Promise<void> {
    this.stats.stalls++;
    state.lastProgressAt = performance.now();
    const { topic, partition } = state;
    this.settings.logger.warn(
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
      this.settings.logger.error(
        { event: 'stalled', topic, partition, err: error },
        `${topic}[${String(partition)}] stalled and recovery failed; trying again in ${String(this.settings.stallTimeout)} ms`,
      );
    }
  }

  private dispatch(source: SourceRecord): void {
    const part = this.#partitions.get(tpKey(source.topic, source.partition));
    if (!this.#accepting || part === undefined || part.revoking) {
      // Never tracked, so never committed: the partition's next owner (or our next run) reads it again.
      this.stats.dropped++;
      return;
    }
    part.lastProgressAt = performance.now();
    // Already tracked in this assignment (a stall recovery's seek can race a fetch): it is in hand.
    if (part.nextOffset !== undefined && source.offset < part.nextOffset) return;
    part.nextOffset = source.offset + 1;
    const { stats, settings } = this;
    const bytes = (source.value?.length ?? 0) + (source.key?.length ?? 0);
    const ticket = part.offsets.track(source.offset);
    stats.consumed++;
    stats.inFlight++;
    stats.inFlightBytes += bytes;
    if (stats.inFlight > stats.peakInFlight) stats.peakInFlight = stats.inFlight;
    if (stats.inFlightBytes > stats.peakInFlightBytes) stats.peakInFlightBytes = stats.inFlightBytes;

    if (consumedChannel.hasSubscribers) consumedChannel.publish({ groupId: settings.groupId, source, bytes });
    let settled = false;
    const settle = (done: boolean): void => {
      if (settled) return;
      settled = true;
      stats.inFlight--;
      stats.inFlightBytes -= bytes;
      if (settledChannel.hasSubscribers) settledChannel.publish({ groupId: settings.groupId, source, bytes, done });
      if (done) {
        const moved = part.offsets.done(ticket);
        // A replaced or revoked partition's tracker is orphaned: its commits can no longer happen.
        // commitEvery counts completed records; once reached, every move of the commit point commits.
        if (this.#partitions.get(tpKey(part.topic, part.partition)) === part) {
          const done = ++this.#doneSinceCommit;
          if (done >= settings.commitEvery && (moved || done === settings.commitEvery)) this.commitAsync();
        }
      } else {
        part.offsets.release(ticket);
      }
      this.#onRoom?.();
      if (part.revoking && part.offsets.inFlight === 0) part.onDrained?.();
      if (stats.inFlight === 0) this.#onIdle?.();
    };
    const ack = (): void => {
      settle(true);
    };
    const nack = (): void => {
      settle(false);
    };

    const emit = (decoded: Decoded<R>): void => {
      if (!decoded.ok) {
        stats.invalid++;
        this.subscriber.next(invalidOutcome(source, decoded.error, ack, nack));
        return;
      }
      this.subscriber.next(
        createContext({
          record: decoded.record,
          source,
          state: settings.makeState(),
          signal: part.controller.signal,
          ack,
          nack,
        }),
      );
    };
    const decoded = decodeRecord(source, settings.decode, settings.schema);
    if (this.#decoding === undefined && !(decoded instanceof Promise)) emit(decoded);
    else this.emitInOrder(decoded, emit, nack);
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

  private assign(partitions: TopicPartition[]): void {
    const consumer = this.#consumer;
    if (consumer === undefined) return;
    for (const { topic, partition } of partitions) {
      this.#partitions.set(tpKey(topic, partition), new PartitionState(topic, partition));
    }
    this.stats.assigned += partitions.length;
    try {
      consumer.assign(partitions);
    } catch (error) {
      this.nativeError(error as KafkaError);
    }
    // Set the pause state of every new partition explicitly: paused while backpressure holds (or the
    // source is stopping), resumed otherwise. librdkafka keeps an application's pause on a partition
    // across unassign and re-assign, so without the resume a partition revoked while paused and handed
    // back later would stay paused for good, with heartbeats going on and nothing fetched.
    const states = partitions.flatMap(({ topic, partition }) => this.#partitions.get(tpKey(topic, partition)) ?? []);
    if (this.stats.paused || !this.#accepting) this.pausePartitions(consumer, states);
    else this.resumePartitions(consumer, states, true);
    publish('consumer.assigned', { partitions });
  }

  /**
   * Stops dispatching, lets in-flight records finish (up to `drainTimeout`), aborts the rest and
   * waits `abortGrace` for them, commits, and only then releases.
   */
  private async revoke(partitions: TopicPartition[]): Promise<void> {
    const states = partitions
      .map(({ topic, partition }) => this.#partitions.get(tpKey(topic, partition)))
      .filter((state): state is PartitionState => state !== undefined);
    for (const state of states) state.revoking = true;
    // Drain before aborting, as stop() does. Aborting at once left holes: a record aborted while a
    // later offset of its partition had already finished (other keys run concurrently) held the
    // commit back, so the next owner re-read, and re-produced, the finished ones: duplicates.
    // After teardown (the final revoke while disconnecting) the pipeline is unsubscribed and nothing
    // in flight can settle any more: waiting would only hold up the close by drainTimeout + abortGrace.
    if (!this.#tornDown) {
      await Promise.all(states.map((state) => this.drained(state, this.settings.drainTimeout)));
      const stragglers = states.filter((state) => state.offsets.inFlight > 0);
      for (const state of stragglers) state.controller.abort(new PartitionRevokedError(state.topic, state.partition));
      await Promise.all(stragglers.map((state) => this.drained(state, this.settings.abortGrace)));
    }
    await this.commitSync(states);
    for (const state of states) this.#partitions.delete(tpKey(state.topic, state.partition));
    this.stats.revoked += partitions.length;
    const consumer = this.#consumer;
    try {
      consumer?.unassign(partitions);
    } catch (error) {
      this.nativeError(error as KafkaError);
    }
    // A pause must not outlive its reason: librdkafka would keep it on the partition past the unassign.
    // (Resuming an unassigned partition only clears the flag; its fetcher is stopped.)
    if (consumer !== undefined && !this.#tornDown)
      this.resumePartitions(
        consumer,
        states.filter((state) => state.paused),
      );
    else for (const state of states) if (state.paused) this.stats.pausedPartitions--;
    publish('consumer.revoked', { partitions });
  }

  private drained(state: PartitionState, timeoutMs: number): Promise<void> {
    if (state.offsets.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      state.onDrained = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private idle(timeoutMs: number): Promise<boolean> {
    if (this.stats.inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        resolve(false);
      }, timeoutMs);
      this.#onIdle = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  private commitAsync(): void {
    const consumer = this.#consumer;
    if (consumer === undefined || this.#commitPending || this.#tornDown) return;
    const offsets = this.uncommitted([...this.#partitions.values()].filter((state) => !state.revoking));
    if (offsets.length === 0) return;
    this.#doneSinceCommit = 0;
    this.#commitPending = true;
    this.#commitSentAt = performance.now();
    try {
      consumer.commit(offsets);
    } catch (error) {
      this.#commitPending = false;
      this.commitFailed(error as KafkaError);
    }
  }

  private committed(error: KafkaError | undefined, offsets: TopicPartitionOffset[]): void {
    this.#commitPending = false;
    if (error !== undefined) {
      this.commitFailed(error);
      return;
    }
    for (const { topic, partition, offset } of offsets) {
      this.#partitions.get(tpKey(topic, partition))?.offsets.markCommitted(offset);
    }
    this.stats.commits++;
    // Under maxUncommitted, a commit frees room.
    this.#onRoom?.();
    const latencyMs = performance.now() - this.#commitSentAt;
    publish('consumer.committed', { groupId: this.settings.groupId, offsets, latencyMs });
  }

  private commitFailed(error: KafkaError): void {
    // Retriable failures (a rebalance in progress, a moving coordinator) are retried by the next commit;
    // the others mean the assignment is gone, and the rebalance that follows settles it.
    this.stats.commitErrors++;
    publish('consumer.commitFailed', { error });
  }

  /** Commits the given partitions now, retrying retriable failures a few times. */
  private async commitSync(states: readonly PartitionState[]): Promise<void> {
    const consumer = this.#consumer;
    const offsets = this.uncommitted(states);
    if (consumer === undefined || offsets.length === 0) return;
    for (let attempt = 1; ; attempt++) {
      const sentAt = performance.now();
      try {
        consumer.commitSync(offsets);
        for (const state of states)
          if (state.offsets.committable !== undefined) state.offsets.markCommitted(state.offsets.committable);
        this.stats.commits++;
        const latencyMs = performance.now() - sentAt;
        publish('consumer.committed', { groupId: this.settings.groupId, offsets, latencyMs });
        return;
      } catch (error) {
        const kafkaError = error as KafkaError;
        if (!kafkaError.retriable || attempt >= 5) {
          this.commitFailed(kafkaError);
          return;
        }
        await sleep(50 * attempt);
      }
    }
  }

  private uncommitted(states: readonly PartitionState[]): TopicPartitionOffset[] {
    const offsets: TopicPartitionOffset[] = [];
    for (const { topic, partition, offsets: tracker } of states) {
      const offset = tracker.uncommitted;
      if (offset !== undefined) offsets.push({ topic, partition, offset });
    }
    return offsets;
  }

  /** Returns false when the error is fatal and the stream has been failed. */
  private nativeError(error: KafkaError): boolean {
    publish('consumer.error', { error });
    // Refused credentials and denied reads do not heal by waiting: fail loudly instead of idling.
    const refused = error instanceof AuthenticationError || error instanceof AuthorizationError;
    if (!error.fatal && !refused) return true;
    this.subscriber.error(error);
    return false;
  }

  /** Graceful stop; see KafkaSource.stop. */
  stop(): Promise<void> {
    this.#stopping ??= this.drainAndComplete();
    return this.#stopping;
  }

  private async drainAndComplete(): Promise<void> {
    if (this.source.state === 'connecting') {
      this.subscriber.complete();
      this.teardown();
      return;
    }
    if (this.source.state !== 'running') return;
    this.source.setState('draining');
    this.#accepting = false;
    if (!(await this.idle(this.settings.drainTimeout))) {
      for (const state of this.#partitions.values()) state.controller.abort(new ShutdownError());
      await this.idle(this.settings.abortGrace);
    }
    await this.commitSync([...this.#partitions.values()]);
    // Completing makes RxJS call teardown, which leaves the group and disconnects.
    this.subscriber.complete();
    this.teardown();
  }

  /** Unsubscription, completion or error: abort what is left, commit what is done, leave, disconnect. */
  teardown(): void {
    if (this.#tornDown) return;
    this.#tornDown = true;
    this.#accepting = false;
    clearInterval(this.#commitTimer);
    clearInterval(this.#watchTimer);
    for (const state of this.#partitions.values()) state.controller.abort(new ShutdownError());
    const consumer = this.#consumer;
    const state = this.source.state;
    this.source.setState('closing');
    // Still connecting: the connect callback disconnects once it can.
    if (state === 'connecting') return;
    void (async () => {
      if (consumer !== undefined) {
        await this.commitSync([...this.#partitions.values()]);
        await consumer.disconnect();
      }
      this.source.setState('closed');
    })();
  }
}
