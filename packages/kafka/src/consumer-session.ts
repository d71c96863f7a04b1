import type { Subscriber } from 'rxjs';
import type { ChainInput, SourceRecord } from '@rxkafka/core';
import { Backpressure } from './backpressure.js';
import { closeWithin } from './close-within.js';
import { Commits, commitWaitBound, sleep } from './commits.js';
import { publish, publishStatistics } from './diagnostics.js';
import { Dispatcher } from './dispatch.js';
import { AuthenticationError, AuthorizationError, type KafkaError, ShutdownError } from './errors.js';
import type { KafkaSource, SourceStats } from './from-kafka.js';
import type { Settings } from './from-kafka-options.js';
import { Assignment, type PartitionStatus } from './partition-state.js';
import { ConsumerPort } from './rdkafka.js';
import { Rebalance } from './rebalance.js';
import { rejoinBoundMs, RejoinWatch } from './rejoin-watch.js';
import { StallWatch } from './stall-watch.js';

const WATCH_INTERVAL_MS = 1000;

/** One subscription's consumer: connects, runs the poll loop, wires the parts together, and shuts down. */
export class ConsumerSession<R, S> {
  #consumer: ConsumerPort | undefined;
  readonly assignment = new Assignment();
  readonly backpressure = new Backpressure(this);
  readonly commits = new Commits(this);
  readonly #rebalance = new Rebalance(this);
  readonly #dispatcher: Dispatcher<R, S>;
  readonly #stalls = new StallWatch(this);
  readonly rejoin: RejoinWatch;
  // False once stopping: fetched records are dropped (and redelivered later) instead of dispatched.
  #accepting = true;
  #stopping: Promise<void> | undefined;
  #tornDown = false;
  // The poll loop, which ends within a poll timeout (or a 100 ms back-off) of teardown.
  #polling: Promise<void> | undefined;
  // Head-of-line stats, the head-of-line log line and the stall guard, once a second.
  #watchTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly source: KafkaSource<R, S>,
    private readonly subscriber: Subscriber<ChainInput<R, S>>,
    readonly settings: Settings<R, S>,
  ) {
    this.#dispatcher = new Dispatcher(this, subscriber);
    this.rejoin = new RejoinWatch(rejoinBoundMs(Number(settings.librdkafka['session.timeout.ms']) || 45_000));
  }

  get stats(): SourceStats {
    return this.source.stats;
  }

  get consumer(): ConsumerPort | undefined {
    return this.#consumer;
  }

  get accepting(): boolean {
    return this.#accepting;
  }

  get tornDown(): boolean {
    return this.#tornDown;
  }

  partitions(): PartitionStatus[] {
    const now = performance.now();
    return [...this.assignment.values()].map((state) => state.status(now));
  }

  start(): void {
    this.source.setState('connecting');
    let consumer: ConsumerPort;
    try {
      consumer = new ConsumerPort(this.settings.librdkafka, {
        rebalance: (kind, partitions) => {
          if (kind === 'assign') this.#rebalance.assign(partitions);
          else void this.#rebalance.revoke(partitions);
        },
        committed: (error, offsets) => {
          this.commits.committed(error, offsets);
        },
        error: (error) => {
          this.nativeError(error);
        },
        stats: (json) => {
          publishStatistics('consumer.stats', this.settings.groupId, json);
        },
        warning: (severity, facility, message) => {
          // The session timed out (or the poll interval ran out): the assignment is lost and rejoined.
          if (facility === 'SESSTMOUT' || facility === 'MAXPOLL') this.rejoin.lost(performance.now());
          this.settings.logger.warn({ groupId: this.settings.groupId, facility, severity }, `librdkafka: ${message}`);
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
          void this.close(consumer);
          return;
        }
        consumer.subscribe(this.settings.topics, this.settings.pollTimeout);
        this.source.setState('running');
        this.commits.schedule();
        this.#watchTimer = setInterval(() => {
          this.watch();
        }, WATCH_INTERVAL_MS);
        this.#watchTimer.unref();
        this.#polling = this.pollLoop(consumer).catch((error: unknown) => {
          this.subscriber.error(error);
        });
      },
      (error: unknown) => {
        // Failing the stream tears it down, which leaves the close to the connect callback: this one.
        if (!this.#tornDown) this.subscriber.error(error);
        this.source.setState('closed');
      },
    );
  }

  private async pollLoop(consumer: ConsumerPort): Promise<void> {
    const { batchSize, pauseAfter } = this.settings;
    const { stats, backpressure } = this;
    const dispatcher = this.#dispatcher;
    // When in-flight records first hit a limit; pausing waits a moment, since a resume costs a re-fetch.
    let fullSince: number | undefined;
    // The next batch, asked for before this one is dispatched: node-rdkafka's worker thread collects it
    // while this thread works. One consume at a time, always: parallel calls race.
    let ahead: Promise<SourceRecord[]> | undefined;
    while (this.source.state === 'running' || this.source.state === 'draining') {
      backpressure.countHeldBack();
      dispatcher.dispatchWaiting();
      dispatcher.dispatchStash();
      if (ahead === undefined && backpressure.isFull() && !stats.paused && this.#accepting) {
        fullSince ??= performance.now();
        const waited = performance.now() - fullSince;
        if (waited < pauseAfter) {
          backpressure.hold();
          if (backpressure.onlyUncommittedFull() && dispatcher.stashed < batchSize) {
            // At maxUncommitted a commit frees room, and its result is only served inside consume:
            // poll one record at a time, keeping what arrives aside (untracked, so never replayed).
            this.commits.commitAsync();
            let records: SourceRecord[];
            try {
              records = await consumer.consume(1);
            } catch (error) {
              if (!this.nativeError(error as KafkaError)) return;
              await sleep(100);
              continue;
            }
            dispatcher.stashAll(records);
            continue;
          }
          await backpressure.roomOrTimeout(Math.min(pauseAfter - waited, this.settings.pollTimeout * 4));
          continue;
        }
      } else if (!backpressure.isFull()) {
        fullSince = undefined;
      }
      backpressure.apply(consumer);
      const batch = ahead ?? consumer.consume(this.batchRoom(1));
      ahead = undefined;
      let records: SourceRecord[];
      try {
        records = await batch;
      } catch (error) {
        if (!this.nativeError(error as KafkaError)) return;
        await sleep(100);
        continue;
      }
      // Records completed while consume waited count before this batch is dispatched.
      backpressure.countHeldBack();
      // A full batch says more are queued: ask for the next one now if it will fit beside this one.
      if (records.length >= batchSize && this.#accepting && dispatcher.stashed === 0) {
        const next = this.batchRoom(0, records.length);
        if (next === batchSize) ahead = consumer.consume(next);
      }
      if (dispatcher.stashed > 0) dispatcher.stashAll(records);
      else for (const record of records) dispatcher.dispatch(record);
      // A partition over its share stops fetching until its waiting records are dispatched.
      if (records.length > 0) backpressure.pause(consumer, dispatcher.overShare());
    }
    // Settle a consume still out, so that no native call is in flight at the close; its records were
    // never tracked, so they are read again.
    await ahead?.catch(() => undefined);
  }

  /**
   * How many records the next consume may ask for: up to `batchSize`, within `maxInFlight` and
   * `maxUncommitted` once `pending` more records are in; `least` when there is no room or while paused
   * (rebalance and commit callbacks are only served inside consume, so it polls even then).
   */
  private batchRoom(least: number, pending = 0): number {
    const { backpressure, stats, settings } = this;
    const room =
      Math.min(
        settings.maxInFlight - backpressure.recordsHeld(),
        settings.maxUncommitted - backpressure.uncommittedCount(),
      ) - pending;
    return stats.paused || room <= 0 ? least : Math.min(settings.batchSize, room);
  }

  /** Once a second: head-of-line stats and warnings, the rejoin guard, then the stall guard. */
  private watch(): void {
    const now = performance.now();
    this.commits.watchHeadOfLine(now);
    this.checkRejoin(now);
    void this.#stalls.check();
  }

  /** A member that lost its assignment and got none back within the bound leaves and joins again, loudly. */
  private checkRejoin(now: number): void {
    const consumer = this.#consumer;
    const waited = this.rejoin.overdue(now, this.assignment.size === 0);
    if (consumer === undefined || waited === undefined || !this.#accepting) return;
    this.stats.rejoins++;
    const rejoined = { groupId: this.settings.groupId, waitedMs: Math.round(waited), boundMs: this.rejoin.boundMs };
    publish('consumer.rejoined', rejoined);
    this.settings.logger.warn(
      rejoined,
      `no partitions assigned ${String(Math.round(waited / 1000))} s after the consumer group session was lost: leaving the group and joining it again`,
    );
    try {
      consumer.resubscribe(this.settings.topics);
    } catch (error) {
      this.nativeError(error as KafkaError);
    }
  }

  /** Returns false when the error is fatal and the stream has been failed. */
  nativeError(error: KafkaError): boolean {
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
    if (!(await this.#dispatcher.idle(this.settings.drainTimeout))) {
      for (const state of this.assignment.values()) state.controller.abort(new ShutdownError());
      await this.#dispatcher.idle(this.settings.abortGrace);
    }
    await this.commits.commitAndWait([...this.assignment.values()], commitWaitBound(this.settings), true);
    // Completing makes RxJS call teardown, which leaves the group and disconnects.
    this.subscriber.complete();
    this.teardown();
  }

  /** Unsubscription, completion or error: abort what is left, commit what is done, leave, disconnect. */
  teardown(): void {
    if (this.#tornDown) return;
    this.#tornDown = true;
    this.#accepting = false;
    this.commits.cancel();
    clearInterval(this.#watchTimer);
    for (const state of this.assignment.values()) state.controller.abort(new ShutdownError());
    const consumer = this.#consumer;
    const state = this.source.state;
    this.source.setState('closing');
    // Still connecting: the connect callback disconnects once it can.
    if (state === 'connecting') return;
    if (consumer === undefined) {
      this.source.setState('closed');
      return;
    }
    void (async () => {
      // No native call may be in flight while the client is destroyed (node-rdkafka has crashed closing
      // under a consume, Blizzard/node-rdkafka#1057): close after the last consume has settled.
      await this.#polling;
      this.commits.commitBeforeClose([...this.assignment.values()]);
      await this.close(consumer);
    })();
  }

  /** Leaves the group and disconnects, within `connectTimeout`. The group drops a member given up on after `session.timeout.ms`. */
  private async close(consumer: ConsumerPort): Promise<void> {
    await closeWithin(consumer, 'consumer', this.settings.connectTimeout, this.settings.logger);
    this.source.setState('closed');
  }
}
