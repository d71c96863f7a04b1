import { from, type Observable, type ObservableInput, type Subscriber, type Subscription } from 'rxjs';
import { DirectSubscriber } from './direct-subscriber.js';
import { Deque } from './deque.js';
import { QueueOverflowError } from './errors.js';
import type { PoolGauges } from './merge-map-by-key.js';

/**
 * A projection that finished synchronously, with its one output. The internals emit it without
 * subscribing to anything: for runChain's synchronous records that spares an Observable and its
 * subscribers per record (see docs/decisions.md). Public `mergeMapByKey` never produces one.
 */
export class Ready<O> {
  constructor(readonly value: O) {}
}

/** What an inner subscription of the pool reports to. */
interface InnerHost<O> {
  readonly subscriber: Subscriber<O>;
  readonly running: Set<Subscription>;
  readonly finished: (key: unknown) => void;
}

/** One value's inner subscription: its outputs go downstream; its completion frees its worker and key. */
class KeyedInner<O> extends DirectSubscriber<O> {
  constructor(
    private readonly host: InnerHost<O>,
    private readonly key: unknown,
  ) {
    super();
  }

  protected onNext(output: O): void {
    this.host.subscriber.next(output);
  }

  protected onError(error: unknown): void {
    this.host.subscriber.error(error);
  }

  protected onComplete(): void {
    this.host.running.delete(this);
    this.host.finished(this.key);
  }
}

/** Sentinel key for values with no ordering constraint. */
const UNORDERED = undefined;
/** No value is being projected outside `busyKeys`. */
const NO_KEY = Symbol('no key');

/**
 * The worker pool behind `mergeMapByKey`: `mergeMap`'s bookkeeping (`mergeInternals` in RxJS) plus
 * per-key serialisation. Values with the same key are projected one at a time, in arrival order;
 * different keys share one global concurrency limit. A key's entry lives only while something runs
 * or waits for it, so there are no idle groups and no `groupBy` deadlock.
 * @return The teardown: it unsubscribes the source and every running inner subscription.
 */
export function mergeByKeyInternals<T, O>(
  source: Observable<T>,
  subscriber: Subscriber<O>,
  keyOf: (value: T) => unknown,
  project: (value: T) => ObservableInput<O> | Ready<O>,
  concurrency: number,
  maxQueued: number,
  gauges: PoolGauges,
): () => void {
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
  // Inner subscriptions still running, so teardown can cancel them.
  const running = new Set<Subscription>();
  // The key of a value being projected outside `busyKeys` (see `start`); NO_KEY when none is.
  let projectingKey: unknown = NO_KEY;

  /**
   * Projects a value on a free worker. A value of a free key starts with its key outside `busyKeys`
   * (`keyEntered` false), entered only if its projection goes asynchronous: most of runChain's records
   * finish synchronously (`Ready`), and a Map that an entry enters and leaves per value reallocates its
   * table at each delete that empties it (V8 shrinks it), about 150 bytes per record (docs/decisions.md
   * 63). A value of the same key that arrives during the projection (a re-entrant source) waits behind
   * it in `busyKeys` as usual.
   */
  const start = (value: T, key: unknown, keyEntered: boolean): void => {
    active++;
    gauges.active = active;
    if (active > gauges.peakActive) gauges.peakActive = active;
    let projected: ObservableInput<O> | Ready<O>;
    if (!keyEntered) projectingKey = key;
    try {
      projected = project(value);
    } catch (error) {
      subscriber.error(error);
      return;
    } finally {
      if (!keyEntered) projectingKey = NO_KEY;
    }
    if (projected instanceof Ready) {
      subscriber.next(projected.value);
      finished(key);
      return;
    }
    if (!keyEntered && !busyKeys.has(key)) {
      busyKeys.set(key, null);
      gauges.keys = busyKeys.size;
    }
    const inner = new KeyedInner(host, key);
    // Added first: an inner that completes synchronously leaves the set at once.
    running.add(inner);
    from(projected).subscribe(inner);
  };

  // A value's work is over: free its worker and let its key's next value run.
  const finished = (key: unknown): void => {
    active--;
    gauges.active = active;
    release(key);
    drain();
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
      start(item.value, item.key, true);
    }
    draining = false;
    if (sourceDone && active === 0 && queued === 0) subscriber.complete();
  };

  const enqueued = (): void => {
    gauges.queued = ++queued;
    if (queued > gauges.peakQueued) gauges.peakQueued = queued;
    if (queued > maxQueued) subscriber.error(new QueueOverflowError(maxQueued));
  };

  const accept = (value: T, key: unknown): void => {
    if (key !== UNORDERED) {
      if (key === projectingKey && !busyKeys.has(key)) busyKeys.set(key, null);
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
      if (active < concurrency && !draining && projectingKey === NO_KEY) {
        start(value, key, false);
        return;
      }
      busyKeys.set(key, null);
      gauges.keys = busyKeys.size;
    }
    if (active < concurrency && !draining) {
      start(value, key, true);
      return;
    }
    ready.push({ value, key });
    enqueued();
  };

  // What each inner subscription reports to.
  const host: InnerHost<O> = { subscriber, running, finished };

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
    for (const subscription of running) subscription.unsubscribe();
    running.clear();
    gauges.active = 0;
    gauges.queued = 0;
    gauges.keys = 0;
  };
}
