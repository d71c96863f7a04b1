import { Observable, type MonoTypeOperatorFunction, type Subscriber } from 'rxjs';
import { AbortedError } from './errors.js';

/**
 * Mirrors the source until `signal` aborts, then errors with an `AbortedError` carrying its reason
 * (and unsubscribes the source). Errors at once if the signal has already aborted.
 *
 * However many subscriptions wait on one signal, the signal carries one abort listener, added on the
 * first and kept until it fires; each subscription adds itself to that listener's set and leaves it on
 * teardown, so unsubscribing leaves nothing behind but that one listener.
 *
 * @example
 * ```ts
 * const controller = new AbortController();
 * interval(10).pipe(abortWhen(controller.signal)).subscribe({ error: (e) => console.log(e.code) });
 * setTimeout(() => controller.abort(new Error('shutdown')), 25); // 0, 1, then ERR_ABORTED
 * ```
 * @param signal Shutdown, revoke, or any outer cancellation.
 * @return An operator that ends with the signal.
 */
export function abortWhen<T>(signal: AbortSignal): MonoTypeOperatorFunction<T> {
  return (source) =>
    new Observable<T>((subscriber) => {
      const stopListening = errorOnAbort(signal, subscriber);
      if (stopListening === undefined) return undefined;
      subscriber.add(stopListening);
      // A source may abort the signal itself, synchronously, before it waits on anything.
      source.subscribe(subscriber);
      return undefined;
    });
}

/**
 * Errors `subscriber` with an `AbortedError` carrying the reason when `signal` aborts: at once if it
 * already has (and returns `undefined`), else then; the returned function stops listening.
 */
export function errorOnAbort(signal: AbortSignal, subscriber: Subscriber<unknown>): (() => void) | undefined {
  if (signal.aborted) {
    subscriber.error(new AbortedError(signal.reason));
    return undefined;
  }
  return onAbort(signal, () => {
    subscriber.error(new AbortedError(signal.reason));
  });
}

/**
 * The callbacks waiting on each signal. EventTarget compares every listener on add and remove, so a
 * listener per record cost O(records in flight) each: at 1,024 records waiting on one partition's
 * signal that was 16% of the CPU (docs/decisions.md). A set per signal makes both O(1).
 */
const waiting = new WeakMap<AbortSignal, Set<() => void>>();

/** How many callbacks wait on `signal` (for tests: each record leaves when it ends). */
export function abortWaiters(signal: AbortSignal): number {
  return waiting.get(signal)?.size ?? 0;
}

/** Calls `callback` once when `signal` aborts; the returned function cancels that. */
function onAbort(signal: AbortSignal, callback: () => void): () => void {
  let callbacks = waiting.get(signal);
  if (callbacks === undefined) {
    const created = new Set<() => void>();
    callbacks = created;
    waiting.set(signal, created);
    signal.addEventListener(
      'abort',
      () => {
        waiting.delete(signal);
        // A callback's teardown deletes it from the set; deleting while iterating a Set is safe.
        for (const waiter of created) waiter();
        created.clear();
      },
      { once: true },
    );
  }
  callbacks.add(callback);
  const registered = callbacks;
  return () => {
    registered.delete(callback);
  };
}
