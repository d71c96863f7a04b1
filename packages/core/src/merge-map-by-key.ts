import { from, Observable, type ObservableInput, type OperatorFunction } from 'rxjs';
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
  return keyedPool(
    keyOf,
    (value, slot, sink) =>
      from(project(value)).subscribe({
        next: (output) => {
          sink.next(output);
        },
        error: (error: unknown) => {
          sink.error(error);
        },
        complete: () => {
          sink.done(slot);
        },
      }),
    options,
  );
}

/** Work the pool can cancel on teardown: a Subscription, or anything with `unsubscribe`. */
export interface PoolWork {
  unsubscribe(): void;
}

/** One started value: its key, and its work while it runs. */
export interface PoolSlot {
  readonly key: unknown;
  work: PoolWork | undefined;
  finished: boolean;
}

/** How work reports back to the pool. Shared by all work of one subscription. */
export interface PoolSink<O> {
  next(output: O): void;
  error(error: unknown): void;
  /** The value's work is over: frees its worker and lets its key's next value run. */
  done(slot: PoolSlot): void;
}

/** Starts the work for one value; it may finish synchronously, before returning. */
export type StartWork<T, O> = (value: T, slot: PoolSlot, sink: PoolSink<O>) => PoolWork | undefined;

/**
 * The worker pool behind `mergeMapByKey` and `runChain`: per-key serialisation under one global
 * concurrency limit. Work reports through a shared sink instead of an Observable per value, which
 * keeps the per-record cost of `runChain` close to a bare `mergeMap`.
 * @internal
 */
export function keyedPool<T, O>(
  keyOf: (value: T) => unknown,
  startWork: StartWork<T, O>,
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
      // Slots whose work is still running, so teardown can cancel them.
      const running = new Set<PoolSlot>();

      const sink: PoolSink<O> = {
        next: (output) => {
          subscriber.next(output);
        },
        error: (error) => {
          subscriber.error(error);
        },
        done: (slot) => {
          if (slot.finished) return;
          slot.finished = true;
          if (slot.work !== undefined) running.delete(slot);
          active--;
          gauges.active = active;
          release(slot.key);
          drain();
        },
      };

      const start = (value: T, key: unknown): void => {
        active++;
        gauges.active = active;
        if (active > gauges.peakActive) gauges.peakActive = active;
        const slot: PoolSlot = { key, work: undefined, finished: false };
        let work: PoolWork | undefined;
        try {
          work = startWork(value, slot, sink);
        } catch (error) {
          active--;
          gauges.active = active;
          subscriber.error(error);
          return;
        }
        // Work that finished synchronously has already released its worker.
        if (!slot.finished && work !== undefined) {
          slot.work = work;
          running.add(slot);
        }
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
        for (const slot of running) slot.work?.unsubscribe();
        running.clear();
        gauges.active = 0;
        gauges.queued = 0;
        gauges.keys = 0;
      };
    });
}
