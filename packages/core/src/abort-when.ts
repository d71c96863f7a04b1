import { Observable, type MonoTypeOperatorFunction } from 'rxjs';
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
      if (signal.aborted) {
        subscriber.error(new AbortedError(signal.reason));
        return undefined;
      }
      const waiter: AbortWaiter = {
        aborted: (reason) => {
          subscriber.error(new AbortedError(reason));
        },
      };
      waitForAbort(signal, waiter);
      subscriber.add(() => {
        stopWaitingForAbort(signal, waiter);
      });
      // A source may abort the signal itself, synchronously, before it waits on anything.
      source.subscribe(subscriber);
      return undefined;
    });
}

/** Told once, when the signal it waits on aborts. An object, so that a record waits without a closure. */
export interface AbortWaiter {
  aborted(reason: unknown): void;
}

/**
 * The waiters on each signal. EventTarget compares every listener on add and remove, so a
 * listener per record cost O(records in flight) each: at 1,024 records waiting on one partition's
 * signal that was 16% of the CPU (docs/decisions.md). A set per signal makes both O(1).
 */
const waiting = new WeakMap<AbortSignal, Set<AbortWaiter>>();

/** How many waiters wait on `signal` (for tests: each record leaves when it ends). */
export function abortWaiters(signal: AbortSignal): number {
  return waiting.get(signal)?.size ?? 0;
}

/** Tells `waiter` once when `signal` (not aborted yet) aborts, unless it stops waiting first. */
export function waitForAbort(signal: AbortSignal, waiter: AbortWaiter): void {
  let waiters = waiting.get(signal);
  if (waiters === undefined) {
    const created = new Set<AbortWaiter>();
    waiters = created;
    waiting.set(signal, created);
    signal.addEventListener(
      'abort',
      () => {
        waiting.delete(signal);
        // A waiter's teardown deletes it from the set; deleting while iterating a Set is safe.
        for (const waiter of created) waiter.aborted(signal.reason);
        created.clear();
      },
      { once: true },
    );
  }
  waiters.add(waiter);
}

/** `waiter` no longer wants telling; nothing to do once the signal has aborted. */
export function stopWaitingForAbort(signal: AbortSignal, waiter: AbortWaiter): void {
  waiting.get(signal)?.delete(waiter);
}
