import { isObservable, type Observable, type SchedulerLike, type Subscription } from 'rxjs';
import type { AttemptEnd, DeferFn } from './context.js';
import { DeferError, toError } from './errors.js';
import { isPromiseLike } from './handler.js';

/** Shared by every outcome without defer errors; frozen so no one can append to it. */
export const NO_DEFER_ERRORS = Object.freeze([]) as unknown as DeferError[];

/**
 * Runs defers in reverse order of registration, one after the other, each bounded by
 * `timeoutMs`. A failing defer is recorded and the rest still run. Calls `done` exactly once.
 * Defers are never cancelled from outside: cleanup that started must be allowed to finish.
 */
export function runDefers(
  defers: readonly DeferFn[],
  end: AttemptEnd,
  timeoutMs: number,
  scheduler: SchedulerLike,
  done: (errors: DeferError[]) => void,
): void {
  const errors: DeferError[] = [];
  let index = defers.length - 1;

  const next = (): void => {
    // Sync defers run in this loop; an async one resumes it from its callback.
    while (index >= 0) {
      const position = index--;
      const defer = defers[position];
      if (defer === undefined) continue;
      let result: ReturnType<DeferFn>;
      try {
        result = defer(end);
      } catch (error) {
        errors.push(new DeferError(position, toError(error)));
        continue;
      }
      if (isObservable(result) || isPromiseLike(result)) {
        awaitDefer(result, position);
        return;
      }
    }
    done(errors.length === 0 ? NO_DEFER_ERRORS : errors);
  };

  const awaitDefer = (result: PromiseLike<unknown> | Observable<unknown>, position: number): void => {
    let settled = false;
    let subscription: Subscription | undefined;
    const settle = (error?: unknown): void => {
      if (settled) return;
      settled = true;
      timer.unsubscribe();
      subscription?.unsubscribe();
      if (error !== undefined) errors.push(new DeferError(position, toError(error)));
      next();
    };
    const timer = scheduler.schedule(() => {
      settle(new Error(`defer did not settle within ${String(timeoutMs)} ms`));
    }, timeoutMs);
    if (isObservable(result)) {
      subscription = result.subscribe({
        error: (error: unknown) => {
          settle(error ?? new Error('defer errored with no reason'));
        },
        complete: () => {
          settle();
        },
      });
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set synchronously inside subscribe()
      if (settled) subscription.unsubscribe();
    } else {
      result.then(
        () => {
          settle();
        },
        (error: unknown) => {
          settle(error ?? new Error('defer rejected with no reason'));
        },
      );
    }
  };

  next();
}
