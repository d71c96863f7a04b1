import { Observable, Subscription, type ObservableInput, type OperatorFunction, from } from 'rxjs';
import { z } from 'zod';
import { Deque } from './deque.js';
import { QueueOverflowError } from './errors.js';
import { parseOptions, positiveInt } from './options.js';

export interface MergeMapByKeyOptions {
  /** Most inner subscriptions alive at once, across all keys: the worker pool size. Default 16. */
  readonly concurrency?: number;
  /** Most values waiting for a worker or for their key; beyond it the stream errors. Default 10,000. */
  readonly maxQueued?: number;
  /** Live counters the operator keeps up to date, for metrics and tests. */
  readonly gauges?: PoolGauges;
}

/** Live counts of a worker pool. Reading them is free; the operator writes them as it goes. */
export class PoolGauges {
  /** Inner subscriptions running now. */
  active = 0;
  /** Values waiting for a worker or for their key. */
  queued = 0;
  /** Keys with something running or waiting. Returns to 0 when the pool is idle. */
  keys = 0;
  /** The most inner subscriptions ever running at once. */
  peakActive = 0;
  /** The most values ever waiting at once. */
  peakQueued = 0;
}

const optionsSchema = z.strictObject({
  concurrency: positiveInt('the worker pool size').optional(),
  maxQueued: positiveInt('the most records allowed to wait').optional(),
  gauges: z.instanceof(PoolGauges, { error: 'a PoolGauges instance' }).optional(),
});

/** Sentinel key for values with no ordering constraint. */
const UNORDERED = undefined;

/**
 * Like `mergeMap`, but values with the same key are projected one at a time, in arrival order,
 * while different keys run concurrently up to one global limit.
 *
 * It keeps no `groupBy` groups, so it cannot deadlock when keys outnumber the limit; a key's
 * entry is deleted as soon as it has nothing running or waiting; and the wait queue is bounded.
 *
 * @example
 * ```ts
 * of({ k: 'a', v: 1 }, { k: 'b', v: 2 }, { k: 'a', v: 3 })
 *   .pipe(mergeMapByKey((x) => x.k, (x) => of(x.v).pipe(delay(10)), { concurrency: 2 }))
 *   .subscribe(console.log); // 1, 2, 3: "a:3" waits for "a:1"; "b:2" runs beside it
 * ```
 * @param keyOf Returns the ordering key; `undefined` means the value may run in any order.
 * @param project Maps a value to the inner Observable whose values are emitted.
 * @param options Concurrency and queue limits, checked now rather than on subscribe.
 * @return An operator that merges the inner Observables.
 */
export function mergeMapByKey<T, O>(
  keyOf: (value: T) => unknown,
  project: (value: T) => ObservableInput<O>,
  options?: MergeMapByKeyOptions,
): OperatorFunction<T, O> {
  const { concurrency = 16, maxQueued = 10_000, gauges = new PoolGauges() } = parseOptions(optionsSchema, options);

  return (source) =>
    new Observable<O>((subscriber) => {
      // Inner subscriptions currently running.
      let active = 0;
      // Values waiting for a free worker; their keys are not running anything else.
      const ready = new Deque<{ value: T; key: unknown }>();
      // Keys with a value running or ready, mapped to the values queued behind it (created lazily).
      const busyKeys = new Map<unknown, Deque<T> | null>();
      // Values in `ready` plus values queued behind a busy key.
      let queued = 0;
      // True once the source has completed.
      let sourceDone = false;
      // Guards `drain` against re-entry when an inner completes synchronously.
      let draining = false;
      const inners = new Subscription();

      const start = (value: T, key: unknown): void => {
        active++;
        gauges.active = active;
        if (active > gauges.peakActive) gauges.peakActive = active;
        let done = false;
        // Stays undefined when the inner completes synchronously, inside `subscribe`.
        let inner: Subscription | undefined = undefined;
        let projected: ObservableInput<O>;
        try {
          projected = project(value);
        } catch (error) {
          active--;
          gauges.active = active;
          subscriber.error(error);
          return;
        }
        inner = from(projected).subscribe({
          next: (output) => {
            subscriber.next(output);
          },
          error: (error: unknown) => {
            subscriber.error(error);
          },
          complete: () => {
            done = true;
            if (inner !== undefined) inners.remove(inner);
            active--;
            gauges.active = active;
            release(key);
            drain();
          },
        });
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set synchronously inside subscribe()
        if (!done) inners.add(inner);
      };

      // Hands the key's next queued value to the ready queue, or frees the key.
      const release = (key: unknown): void => {
        if (key === UNORDERED) return;
        const behind = busyKeys.get(key);
        if (behind === undefined || behind === null || behind.length === 0) {
          busyKeys.delete(key);
          gauges.keys = busyKeys.size;
          return;
        }
        ready.push({ value: behind.shift() as T, key });
      };

      const drain = (): void => {
        if (draining) return;
        draining = true;
        while (active < concurrency && ready.length > 0) {
          const item = ready.shift();
          if (item === undefined) break;
          gauges.queued = --queued;
          start(item.value, item.key);
        }
        draining = false;
        if (sourceDone && active === 0 && queued === 0) subscriber.complete();
      };

      const accept = (value: T, key: unknown): void => {
        if (key !== UNORDERED) {
          if (busyKeys.has(key)) {
            let behind = busyKeys.get(key);
            if (behind === null || behind === undefined) {
              behind = new Deque<T>();
              busyKeys.set(key, behind);
            }
            behind.push(value);
            enqueued();
            return;
          }
          busyKeys.set(key, null);
          gauges.keys = busyKeys.size;
        }
        if (active < concurrency && !draining) {
          start(value, key);
          return;
        }
        ready.push({ value, key });
        enqueued();
      };

      const enqueued = (): void => {
        gauges.queued = ++queued;
        if (queued > gauges.peakQueued) gauges.peakQueued = queued;
        if (queued > maxQueued) subscriber.error(new QueueOverflowError(maxQueued));
      };

      const sourceSubscription = source.subscribe({
        next: (value) => {
          // A synchronous source may keep emitting after the output has errored.
          if (subscriber.closed) return;
          let key: unknown;
          try {
            key = keyOf(value);
          } catch (error) {
            subscriber.error(error);
            return;
          }
          accept(value, key);
        },
        error: (error: unknown) => {
          subscriber.error(error);
        },
        complete: () => {
          sourceDone = true;
          drain();
        },
      });

      return () => {
        sourceSubscription.unsubscribe();
        inners.unsubscribe();
        gauges.active = 0;
        gauges.queued = 0;
        gauges.keys = 0;
      };
    });
}
