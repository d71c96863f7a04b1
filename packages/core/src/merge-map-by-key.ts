import { Observable, type ObservableInput, type OperatorFunction } from 'rxjs';
import { z } from 'zod';
import { mergeByKeyInternals } from './merge-by-key-internals.js';
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

export const poolOptionsSchema = z.strictObject({
  concurrency: positiveInt('the worker pool size').optional(),
  maxQueued: positiveInt('the most records allowed to wait').optional(),
  gauges: z.instanceof(PoolGauges, { error: 'a PoolGauges instance' }).optional(),
});

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
  if (typeof keyOf !== 'function') throw new TypeError('mergeMapByKey: keyOf must be a function');
  if (typeof project !== 'function') throw new TypeError('mergeMapByKey: project must be a function');
  const { concurrency = 16, maxQueued = 10_000, gauges = new PoolGauges() } = parseOptions(poolOptionsSchema, options);
  return (source) =>
    new Observable<O>((subscriber) =>
      mergeByKeyInternals(source, subscriber, keyOf, project, concurrency, maxQueued, gauges),
    );
}
