import { isObservable, type Observable, type SchedulerLike, type Subscription } from 'rxjs';
import type { AttemptEnd, RecordContext } from './context.js';
import { DeferError, toError } from './errors.js';
import { isPromiseLike } from './handler.js';

/** Shared by every outcome without defer errors; frozen so no one can append to it. */
export const NO_DEFER_ERRORS = Object.freeze([]) as unknown as DeferError[];

/**
 * Runs an attempt's defers in reverse order of registration, one after the other, each bounded by
 * `timeoutMs` (`Infinity`: unbounded). A failing defer is recorded and the rest still run. A defer
 * registered while they run (from a defer, or from a handler still settling) runs next, so it is
 * awaited too. Calls `done` exactly once, after which the context runs late registrations at once.
 * Defers are never cancelled from outside: cleanup that started must be allowed to finish.
 */
export function runDefers(
  ctx: Pick<RecordContext<unknown, unknown>, 'defers' | 'closeDefers'>,
  end: AttemptEnd,
  timeoutMs: number,
  scheduler: SchedulerLike,
  done: (errors: DeferError[]) => void,
): void {
  const { defers } = ctx;
  if (defers.length === 0) {
    ctx.closeDefers(end);
    done(NO_DEFER_ERRORS);
    return;
  }
  const errors: DeferError[] = [];

  const next = (): void => {
    // Sync defers run in this loop; an async one resumes it when it settles.
    while (defers.length > 0) {
      const position = defers.length - 1;
      const defer = defers.pop();
      if (defer === undefined) continue;
      let result: ReturnType<typeof defer>;
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
    ctx.closeDefers(end);
    done(errors.length === 0 ? NO_DEFER_ERRORS : errors);
  };

  const awaitDefer = (result: PromiseLike<unknown> | Observable<unknown>, position: number): void => {
    // A PromiseLike may call back twice, or synchronously: only the first settlement counts.
    let settled = false;
    let subscription: Subscription | undefined;
    let timer: Subscription | undefined;
    const settle = (error?: unknown): void => {
      if (settled) return;
      settled = true;
      timer?.unsubscribe();
      subscription?.unsubscribe();
      if (error !== undefined) errors.push(new DeferError(position, toError(error)));
      next();
    };
    if (Number.isFinite(timeoutMs)) {
      timer = scheduler.schedule(() => {
        settle(new Error(`defer did not settle within ${String(timeoutMs)} ms`));
      }, timeoutMs);
    }
    try {
      if (isObservable(result)) {
        const subscribed = result.subscribe({
          error: (error: unknown) => {
            settle(error ?? new Error('defer errored with no reason'));
          },
          complete: () => {
            settle();
          },
        });
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set synchronously inside subscribe()
        if (settled) subscribed.unsubscribe();
        else subscription = subscribed;
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
    } catch (error) {
      settle(error ?? new Error('defer threw with no reason'));
    }
  };

  next();
}
