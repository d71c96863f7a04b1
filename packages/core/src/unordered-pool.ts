import { finalize, mergeMap, Observable, of, tap, type OperatorFunction, type Subscriber } from 'rxjs';
import { DirectSubscriber } from './direct-subscriber.js';
import { QueueOverflowError } from './errors.js';
import { innerSubscriptionsInSet } from './inner-subscriptions-in-set.js';
import { Ready } from './merge-by-key-internals.js';
import type { PoolGauges } from './merge-map-by-key.js';

/** The worker pool of one application of runChain. */
export interface Pool {
  readonly concurrency: number;
  readonly maxQueued: number;
  readonly gauges: PoolGauges;
}

/**
 * runChain's unordered worker pool: `mergeMap` with its concurrency limit, the pool's gauges, its
 * `maxQueued` bound (RxJS's own buffer is unbounded) and its inner subscriptions in a `Set`
 * (docs/decisions.md 46).
 *
 * A value that arrives while a worker is free and nothing waits is projected at once, before
 * `mergeMap`, which would project it at once too: a projection that finished synchronously (`Ready`)
 * is emitted as it is, without an inner Observable and subscription (docs/decisions.md 66); one that
 * went asynchronous takes its worker in `mergeMap`, which has one free.
 * Values that arrive during such a projection (a re-entrant source) are handled after it, in order.
 *
 * Only for projections that emit exactly one value, last, as runChain's records do.
 *
 * @example
 * ```ts
 * contexts$.pipe(unorderedPool((ctx) => runRecord(ctx, settings), { concurrency: 64, maxQueued, gauges }));
 * ```
 */
export function unorderedPool<T, O>(
  project: (value: T) => Observable<O> | Ready<O>,
  pool: Pool,
): OperatorFunction<T, O> {
  return (source) =>
    new Observable<O>((downstream) => {
      const gate = new UnorderedGate(project, pool, downstream);
      return new Observable<T | Started<O>>((toMerge) => {
        gate.toMerge = toMerge;
        return source.subscribe(gate);
      })
        .pipe(
          mergeMap((value) => gate.startInMerge(value), pool.concurrency),
          innerSubscriptionsInSet(),
          tap(() => {
            gate.finishedInMerge();
          }),
          finalize(() => {
            pool.gauges.active = 0;
            pool.gauges.queued = 0;
          }),
        )
        .subscribe(downstream);
    });
}

/** A value whose projection began before `mergeMap` and went asynchronous: its worker is counted. */
class Started<O> {
  constructor(readonly observable: Observable<O>) {}
}

/** Subscribed to the source: projects what can start now, hands the rest to `mergeMap`. */
class UnorderedGate<T, O> extends DirectSubscriber<T> {
  /** `mergeMap`'s input. */
  toMerge: Subscriber<T | Started<O>> | undefined;
  // Workers taken: mergeMap's inner subscriptions, and a projection running here.
  #active = 0;
  // Values handed to mergeMap that have not started: its buffer.
  #buffered = 0;
  // True while a value is handled here; values arriving meanwhile wait in `#arrivedMeanwhile`.
  #handling = false;
  readonly #arrivedMeanwhile: T[] = [];

  constructor(
    private readonly project: (value: T) => Observable<O> | Ready<O>,
    private readonly pool: Pool,
    private readonly downstream: Subscriber<O>,
  ) {
    super();
  }

  /** mergeMap's projection. */
  startInMerge(value: T | Started<O>): Observable<O> {
    if (value instanceof Started) return value.observable;
    this.#buffered--;
    this.#queuedChanged();
    this.#took();
    const projected = this.project(value);
    return projected instanceof Ready ? of(projected.value) : projected;
  }

  /** A record in mergeMap emitted its outcome, its last value: its worker is free. */
  finishedInMerge(): void {
    this.pool.gauges.active = --this.#active;
  }

  protected onNext(value: T): void {
    if (this.#handling) {
      this.#arrivedMeanwhile.push(value);
      this.#queuedChanged();
      return;
    }
    this.#handling = true;
    try {
      this.#handle(value);
      while (this.#arrivedMeanwhile.length > 0 && !this.closed) {
        const next = this.#arrivedMeanwhile.shift() as T;
        this.#queuedChanged();
        this.#handle(next);
      }
    } finally {
      this.#handling = false;
    }
  }

  protected onError(error: unknown): void {
    this.toMerge?.error(error);
  }

  protected onComplete(): void {
    this.toMerge?.complete();
  }

  #handle(value: T): void {
    const toMerge = this.toMerge;
    if (toMerge === undefined || toMerge.closed) return;
    if (this.#buffered > 0 || this.#active >= this.pool.concurrency) {
      this.#buffered++;
      if (this.#queuedChanged()) toMerge.next(value);
      return;
    }
    this.#took();
    let projected: Observable<O> | Ready<O>;
    try {
      projected = this.project(value);
    } catch (error) {
      toMerge.error(error);
      return;
    }
    if (projected instanceof Ready) {
      this.pool.gauges.active = --this.#active;
      this.downstream.next(projected.value);
    } else if (this.closed) {
      // Torn down during the projection: cancelled like a running record, so its defers run.
      this.#active--;
      projected.subscribe().unsubscribe();
    } else {
      toMerge.next(new Started(projected));
    }
  }

  #took(): void {
    const { gauges } = this.pool;
    gauges.active = ++this.#active;
    if (this.#active > gauges.peakActive) gauges.peakActive = this.#active;
  }

  /** Updates the gauges; false (and the stream failed) if more values wait than `maxQueued`. */
  #queuedChanged(): boolean {
    const { gauges, maxQueued } = this.pool;
    const queued = this.#buffered + this.#arrivedMeanwhile.length;
    gauges.queued = queued;
    if (queued > gauges.peakQueued) gauges.peakQueued = queued;
    if (queued <= maxQueued) return true;
    this.toMerge?.error(new QueueOverflowError(maxQueued));
    return false;
  }
}
