import { Observable, type MonoTypeOperatorFunction } from 'rxjs';
import { AbortedError } from './errors.js';

/**
 * Mirrors the source until `signal` aborts, then errors with an `AbortedError` carrying its reason
 * (and unsubscribes the source). Errors at once if the signal has already aborted.
 *
 * Its one abort listener is added with `{ once: true }` and removed on teardown, so unsubscribing
 * leaves nothing on the signal.
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
      const onAbort = (): void => {
        subscriber.error(new AbortedError(signal.reason));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      subscriber.add(() => {
        signal.removeEventListener('abort', onAbort);
      });
      // A source may abort the signal itself, synchronously, before it waits on anything.
      source.subscribe(subscriber);
      return undefined;
    });
}
