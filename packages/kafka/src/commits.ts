import type { ConsumerSession } from './consumer-session.js';
import { publish } from './diagnostics.js';
import { KafkaError } from './errors.js';
import { timerFor } from './option-timer.js';
import type { PartitionState } from './partition-state.js';
import type { TopicPartitionOffset } from './rdkafka.js';

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

/** Commit refusals that a rejoin of the group heals: the member's generation or id went stale. */
const REJOIN_CODES: ReadonlySet<string> = new Set([
  'ERR_ILLEGAL_GENERATION',
  'ERR_UNKNOWN_MEMBER_ID',
  'ERR_REBALANCE_IN_PROGRESS',
]);

/**
 * How long a stop's or a revoke's commit may wait: `drainTimeout`, or `connectTimeout` when the drain has
 * no limit, so that a broker that is gone cannot hold a stop or a rebalance forever.
 */
export function commitWaitBound(settings: { readonly drainTimeout: number; readonly connectTimeout: number }): number {
  return Number.isFinite(settings.drainTimeout) ? settings.drainTimeout : settings.connectTimeout;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** When and how offsets are committed, and what holds the commit point back. */
export class Commits<R, S> {
  // Records completed since the last commit was sent.
  #doneSinceCommit = 0;
  // A commit was sent and its result has not arrived.
  #commitPending = false;
  #commitTimer: NodeJS.Timeout | undefined;
  // performance.now() when the pending asynchronous commit was sent.
  #commitSentAt = 0;
  // commitAndWait() calls waiting for the next commit result (undefined when the session tore down).
  #resultWaiters: ((result: KafkaError | 'ok' | undefined) => void)[] = [];

  constructor(private readonly session: ConsumerSession<R, S>) {}

  /** Commits every `commitInterval` until cancel(). */
  schedule(): void {
    this.#commitTimer = setInterval(() => {
      this.commitAsync();
    }, this.session.settings.commitInterval);
    this.#commitTimer.unref();
  }

  /** Stops the periodic commits and releases every commitAndWait() (the poll loop ends with the session). */
  cancel(): void {
    clearInterval(this.#commitTimer);
    this.#settleWaiters(undefined);
  }

  /** A record of `part` completed; `moved` says whether the partition's commit point moved. */
  completed(part: PartitionState, moved: boolean): void {
    // A replaced or revoked partition's tracker is orphaned: its commits can no longer happen.
    // commitEvery counts completed records; once reached, every move of the commit point commits.
    if (this.session.assignment.isCurrent(part)) {
      const { commitEvery } = this.session.settings;
      const done = ++this.#doneSinceCommit;
      if (done >= commitEvery && (moved || done === commitEvery)) this.commitAsync();
    }
  }

  commitAsync(): void {
    if (this.#commitPending) return;
    this.#send([...this.session.assignment.values()].filter((state) => !state.revoking));
  }

  /** Sends an asynchronous commit of what `states` completed: false if there was nothing to send, the error if it threw. */
  #send(states: readonly PartitionState[]): boolean | KafkaError {
    const { consumer } = this.session;
    if (consumer === undefined || this.session.tornDown) return false;
    const offsets = uncommitted(states);
    if (offsets.length === 0) return false;
    this.#doneSinceCommit = 0;
    this.#commitPending = true;
    this.#commitSentAt = performance.now();
    try {
      consumer.commit(offsets);
    } catch (error) {
      this.#commitPending = false;
      this.failed(error as KafkaError);
      return error as KafkaError;
    }
    return true;
  }

  /** The result of an asynchronous commit. */
  committed(error: KafkaError | undefined, offsets: TopicPartitionOffset[]): void {
    this.#commitPending = false;
    if (error !== undefined) {
      this.failed(error);
      this.#settleWaiters(error);
      return;
    }
    for (const { topic, partition, offset } of offsets) {
      this.session.assignment.get(topic, partition)?.offsets.markCommitted(offset);
    }
    this.session.stats.commits++;
    // Under maxUncommitted, a commit frees room.
    this.session.backpressure.room();
    const latencyMs = performance.now() - this.#commitSentAt;
    publish('consumer.committed', { groupId: this.session.settings.groupId, offsets, latencyMs });
    this.#settleWaiters('ok');
  }

  /**
   * Commits what `states` completed and waits for the result without blocking the thread, so the poll
   * loop (which must be running: it serves the result) keeps serving rebalance callbacks meanwhile. A
   * commit sent while the member rejoins is held until the round ends (seconds) and then refused as
   * stale; a blocking one also froze the process for that long, this member's rebalance callbacks too.
   * With `untilRejoined`, refusals that a rejoin heals (stale generation or member id) are retried until
   * `withinMs`; other retriable ones up to 5 attempts either way. Gives up, published as a failed
   * commit, once `withinMs` has passed.
   */
  async commitAndWait(states: readonly PartitionState[], withinMs: number, untilRejoined: boolean): Promise<void> {
    const giveUpAt = performance.now() + withinMs;
    for (let attempt = 1; ;) {
      // One commit in flight at a time: a periodic one already sent is waited for first.
      const sending = this.#commitPending ? false : this.#send(states.filter((state) => state.current));
      if (sending === false && !this.#commitPending) return;
      const sent = sending !== false;
      const result = sending instanceof KafkaError ? sending : await this.#nextResult(giveUpAt - performance.now());
      if (result === undefined) return;
      if (result === 'timeout') {
        const error = new KafkaError(
          `commit: no result within ${String(withinMs)} ms`,
          'ERR__TIMED_OUT',
          -185,
          true,
          false,
        );
        this.failed(error);
        return;
      }
      // A commit landed, or the periodic one failed: the next turn commits whatever is still uncommitted.
      if (result === 'ok' || !sent) continue;
      const rejoining = untilRejoined && REJOIN_CODES.has(result.code) && performance.now() < giveUpAt;
      const delay = retryAfter(result, attempt++, rejoining);
      if (delay === undefined) return;
      await sleep(delay);
    }
  }

  #nextResult(withinMs: number): Promise<KafkaError | 'ok' | 'timeout' | undefined> {
    if (this.session.tornDown) return Promise.resolve(undefined);
    if (withinMs <= 0) return Promise.resolve('timeout');
    return new Promise((resolve) => {
      const timer = timerFor(withinMs, () => {
        this.#resultWaiters = this.#resultWaiters.filter((waiter) => waiter !== settle);
        resolve('timeout');
      });
      const settle = (result: KafkaError | 'ok' | undefined): void => {
        clearTimeout(timer);
        resolve(result);
      };
      this.#resultWaiters.push(settle);
    });
  }

  #settleWaiters(result: KafkaError | 'ok' | undefined): void {
    const waiters = this.#resultWaiters;
    if (waiters.length === 0) return;
    this.#resultWaiters = [];
    for (const settle of waiters) settle(result);
  }

  /**
   * Teardown's last commit, once the poll loop has stopped: sent, not awaited. librdkafka's close, which
   * follows within `connectTimeout`, sends it first and waits for it before it leaves the group. A
   * blocking commit froze the thread while the broker was away: 46 s at a time, a stop took 230 s.
   */
  commitBeforeClose(states: readonly PartitionState[]): void {
    const { consumer } = this.session;
    // A partition revoked meanwhile is no longer this member's to commit.
    const offsets = uncommitted(states.filter((state) => state.current));
    if (consumer === undefined || offsets.length === 0) return;
    try {
      consumer.commit(offsets);
    } catch (error) {
      this.failed(error as KafkaError);
    }
  }

  private failed(error: KafkaError): void {
    // Retriable failures (a rebalance in progress, a moving coordinator) are retried by the next commit;
    // the others mean the assignment is gone, and the rebalance that follows settles it.
    this.session.stats.commitErrors++;
    publish('consumer.commitFailed', { error });
  }

  /** Refreshes the head-of-line and uncommitted stats, and logs a head that has held on too long. */
  watchHeadOfLine(now: number): void {
    const { stats, settings, assignment } = this.session;
    const heads: HeadOfLine[] = [];
    let heldBack = 0;
    for (const state of assignment.values()) {
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
    stats.uncommitted = assignment.uncommittedCount();
  }
}

/**
 * How long to wait before committing again after `error` on attempt `attempt`, or undefined to give up:
 * retriable failures get 5 attempts; `rejoining` (a refusal a rejoin heals, within its bound) keeps going.
 */
function retryAfter(error: KafkaError, attempt: number, rejoining: boolean): number | undefined {
  return rejoining || (error.retriable && attempt < 5) ? Math.min(50 * attempt, 500) : undefined;
}

function uncommitted(states: readonly PartitionState[]): TopicPartitionOffset[] {
  const offsets: TopicPartitionOffset[] = [];
  for (const { topic, partition, offsets: tracker } of states) {
    const offset = tracker.uncommitted;
    if (offset !== undefined) offsets.push({ topic, partition, offset });
  }
  return offsets;
}
