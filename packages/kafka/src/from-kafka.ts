import { Observable, type Subscriber, type TeardownLogic } from 'rxjs';
import type { AttachedChain, ChainInput } from '@rxkafka/core';
import type { HeadOfLine } from './commits.js';
import { ConsumerSession } from './consumer-session.js';
import { resolveSettings, type FromKafkaOptions, type Settings } from './from-kafka-options.js';
import { publish } from './diagnostics.js';
import { LifecycleError } from './errors.js';
import type { PartitionStatus } from './partition-state.js';

export type { HeadOfLine } from './commits.js';
export type { FromKafkaOptions } from './from-kafka-options.js';
export type { PartitionStatus } from './partition-state.js';

export type SourceState = 'idle' | 'connecting' | 'running' | 'draining' | 'closing' | 'closed';

/** The limits a source works within, for status pages and stall diagnosis. */
export interface SourceLimits {
  readonly maxInFlight: number;
  readonly maxInFlightBytes: number;
  /** The most records a crash replays. */
  readonly maxUncommitted: number;
  /** Completed records held back behind slower ones, beyond which their partitions stop fetching. */
  readonly maxHeldBack: number;
  readonly stallTimeout: number;
  readonly headOfLineWarnAfter: number;
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
  /**
   * Times a partition stopped fetching because it held its share of `maxHeldBack`: completed records
   * waiting behind its oldest unfinished one. It fetches again once that record finishes.
   */
  heldBackHolds = 0;
  /** Records fetched and not covered by a commit (a crash would replay them). Refreshed every second. */
  uncommitted = 0;
  /** Per partition, the record holding the commit back, if completed records wait behind it. Refreshed every second. */
  headOfLine: readonly HeadOfLine[] = [];
  commits = 0;
  commitErrors = 0;
  assigned = 0;
  revoked = 0;
  /**
   * Times the member left its group and joined it again because no assignment came back within three
   * session timeouts (at least 30 s) after the session was lost. Each is logged as a warning.
   */
  rejoins = 0;
  /** Records fetched but dropped because their partition was being revoked or the source was stopping. */
  dropped = 0;
  /**
   * Records fetched and kept aside because their partition held its share of `maxInFlight` (the limit
   * over the assigned partitions) while shares applied (see `shareInFlight`). The partition is paused
   * meanwhile, so the budget goes to the others and, in key mode, to many keys.
   */
  waiting = 0;
  /** Bytes (keys + values) of the waiting records; they count against `maxInFlightBytes`. */
  waitingBytes = 0;
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
  #chain: AttachedChain | undefined;
  // stop() came before any subscription: a later one completes at once, with nothing to drain.
  #stoppedBeforeStart = false;

  constructor(options: FromKafkaOptions<R, S>) {
    const settings = resolveSettings(options);
    // `this` is unusable before super(): subscriptions reach attach() through this indirection.
    let attach = (_subscriber: Subscriber<ChainInput<R, S>>): TeardownLogic => undefined;
    super((subscriber) => attach(subscriber));
    attach = (subscriber) => this.attach(subscriber, settings);
    this.#settings = settings;
    this.#closed = new Promise((resolve) => (this.#markClosed = resolve));
    settings.signal?.addEventListener('abort', () => void this.stop(), { once: true });
    if (settings.signal?.aborted === true) void this.stop();
  }

  get state(): SourceState {
    return this.#state;
  }

  /** The consumer group. */
  get groupId(): string {
    return this.#settings.groupId;
  }

  /**
   * Whether partitions get shares of `maxInFlight` now (see `shareInFlight`): with runChain applied
   * directly in key or partition order, while its workers idle and at least `resumeAt` of the limit
   * waits in its pool behind busy keys; with `shareInFlight: true`, while `resumeAt` of it is in flight.
   */
  get sharesInFlight(): boolean {
    const { shareInFlight, maxInFlight, resumeAt } = this.#settings;
    if (shareInFlight === false) return false;
    const chain = this.#chain;
    if (chain !== undefined && chain.ordering !== 'unordered') {
      // The pool says when keys block: workers idle while half the limit waits behind busy keys.
      const { gauges, concurrency } = chain;
      return gauges.active < concurrency && gauges.queued >= maxInFlight * resumeAt;
    }
    return shareInFlight === true && this.stats.inFlight >= maxInFlight * resumeAt;
  }

  /** @internal runChain, applied to this source directly, says how it orders and how busy it is. */
  chainAttached(chain: AttachedChain): void {
    this.#chain = chain;
  }

  get limits(): SourceLimits {
    const { maxInFlight, maxInFlightBytes, maxUncommitted, maxHeldBack, stallTimeout, headOfLineWarnAfter } =
      this.#settings;
    return { maxInFlight, maxInFlightBytes, maxUncommitted, maxHeldBack, stallTimeout, headOfLineWarnAfter };
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
   * the final commit is made; the stream completes; the consumer leaves the group. Idempotent. A source
   * stopped before it is subscribed (or given an aborted `signal`) completes at once when subscribed.
   */
  stop(): Promise<void> {
    if (this.#state === 'idle') {
      this.#stoppedBeforeStart = true;
      this.setState('closed');
    }
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
    if (this.#stoppedBeforeStart) {
      subscriber.complete();
      return () => undefined;
    }
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
