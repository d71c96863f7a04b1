import { isObservable, of, take, type Observable, type SchedulerLike, type Subscription } from 'rxjs';
import type { AttemptEnd, Context, DeferFn } from './context.js';
import type { RecordContext } from './context.js';
import { NO_DEFER_ERRORS, runDefers } from './defers.js';
import type { Deadlines } from './deadlines.js';
import { AbortedError, DeadlineExceededError, HandlerError, toError, type DeferError } from './errors.js';
import {
  BREAK,
  callBody,
  isLiftedHandler,
  isNamedHandler,
  isPromiseLike,
  notTheContext,
  type Handler,
  type HandlerResult,
} from './handler.js';
import type { PoolSink, PoolSlot, PoolWork } from './merge-map-by-key.js';
import type { Outcome } from './outcome.js';
import type { RetryPolicy } from './retry.js';

/** runChain's options after validation and defaults. */
export interface ChainSettings<R, S> {
  readonly handlers: readonly Handler<R, S>[];
  readonly handlerNames: readonly string[];
  readonly timeoutMs: number;
  /** Shared deadline timers; undefined without a timeout. */
  readonly deadlines: Deadlines | undefined;
  readonly deferTimeoutMs: number;
  readonly staticDefers: readonly DeferFn[];
  readonly retry: RetryPolicy;
  readonly scheduler: SchedulerLike;
}

type Failure = HandlerError | DeadlineExceededError | AbortedError;

/**
 * Drives one record through its attempts: handlers in order, the deadline, the outer abort,
 * defers after every attempt, retries with backoff, and finally one outcome.
 * A state machine rather than an operator chain: the per-record path is the hottest one.
 */
export class RecordRun<R, S> implements PoolWork {
  // The context of the attempt in progress.
  private ctx: RecordContext<R, S>;
  // Scheduler time at which the first attempt started.
  private readonly startedAt: number;
  // Index of the handler running now (or where the chain stopped).
  private position = 0;
  // True once the current attempt ended; anything that arrives later is discarded.
  private attemptEnded = false;
  // True once the subscriber went away or the outcome was emitted; defers still run but nothing is emitted.
  private cancelled = false;
  // A running Observable handler or plain operator.
  private inner: Subscription | undefined;
  // The backoff timer between attempts.
  private timer: Subscription | undefined;
  // True while this run listens for the outer signal's abort.
  private listening = false;
  // The armed deadline of the current attempt, if any.
  private armedDeadline: number | undefined;
  // True while the current handler's Promise has not settled: after a timeout or abort the run waits
  // for it (bounded by deferTimeout) before the defers, so what it acquires late is still released.
  private promisePending = false;
  // What to do once the pending Promise settles or its grace runs out; set only while waiting.
  private afterSettle: (() => void) | undefined;
  // The outer signal's listener during a retry backoff.
  private backoffAbort: (() => void) | undefined;

  constructor(
    first: RecordContext<R, S>,
    private readonly settings: ChainSettings<R, S>,
    private readonly slot: PoolSlot,
    private readonly sink: PoolSink<Outcome<R, S>>,
  ) {
    this.ctx = first;
    this.startedAt = settings.scheduler.now();
  }

  start(): void {
    this.beginAttempt(this.ctx);
  }

  /** The pool was torn down (shutdown): abort the attempt; its defers still run. */
  unsubscribe(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.timer?.unsubscribe();
    this.stopBackoffListener();
    if (!this.attemptEnded) this.endAttempt('aborted', new AbortedError('unsubscribed'));
  }

  private beginAttempt(ctx: RecordContext<R, S>): void {
    const { settings } = this;
    this.ctx = ctx;
    this.position = 0;
    this.attemptEnded = false;
    this.promisePending = false;
    for (const defer of settings.staticDefers) ctx.defer(defer);
    const outer = ctx.outerSignal;
    if (outer?.aborted === true) {
      this.endAttempt('aborted', new AbortedError(outer.reason));
      return;
    }
    const deadlines = settings.deadlines;
    if (deadlines !== undefined) ctx.deadline = deadlines.next();
    this.runFrom(0);
    // Nothing can interrupt a synchronous chain, so the abort listener and the deadline timer are
    // only set up once the chain waits on something: most records never pay for them.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- runFrom may end the attempt
    if (this.attemptEnded) return;
    if (outer !== undefined) {
      // A handler may have caused the abort itself, synchronously (TS cannot see that, hence the cast).
      if (outer.aborted as boolean) {
        this.handleEvent();
        return;
      }
      // The run itself is the listener (`handleEvent`): no closure per record.
      outer.addEventListener('abort', this, { once: true });
      this.listening = true;
    }
    if (deadlines !== undefined) {
      deadlines.arm(this, ctx.deadline);
      this.armedDeadline = ctx.deadline;
    }
  }

  /** The outer signal aborted (shutdown or revoke). */
  handleEvent(): void {
    this.endAttempt('aborted', new AbortedError(this.ctx.outerSignal?.reason));
  }

  onDeadline(): void {
    this.endAttempt('timeout', new DeadlineExceededError(this.handlerName(), this.settings.timeoutMs));
  }

  /** Runs handlers from `index` on; returns when the chain ends or waits on an async handler. */
  private runFrom(index: number): void {
    const { handlers } = this.settings;
    const ctx = this.ctx;
    for (let i = index; i < handlers.length; i++) {
      if (this.attemptEnded) return;
      this.position = i;
      const current = handlers[i];
      if (current === undefined) break;
      if (!isLiftedHandler(current)) {
        this.subscribeOperator(current, i);
        return;
      }
      let result: HandlerResult;
      try {
        result = callBody(current, ctx);
      } catch (error) {
        this.fail(error);
        return;
      }
      if (result === undefined) continue;
      if (result === BREAK) {
        this.endAttempt('break');
        return;
      }
      if (isObservable(result)) {
        this.subscribeResult(result, i);
        return;
      }
      if (isPromiseLike(result)) {
        this.awaitResult(result, i);
        return;
      }
    }
    this.endAttempt('ok');
  }

  private continueAfter(index: number, verdict: unknown): void {
    this.inner = undefined;
    if (verdict === BREAK) this.endAttempt('break');
    else this.runFrom(index + 1);
  }

  /** An Observable result: its last value is the verdict, an error fails the attempt. */
  private subscribeResult(result: Observable<unknown>, index: number): void {
    let verdict: unknown;
    let settled = false;
    const subscription = result.subscribe({
      next: (value) => {
        verdict = value;
      },
      error: (error: unknown) => {
        settled = true;
        this.fail(error);
      },
      complete: () => {
        settled = true;
        this.continueAfter(index, verdict);
      },
    });
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set synchronously inside subscribe()
    if (!settled) this.inner = subscription;
  }

  /**
   * A PromiseLike result. Only its first settlement counts (a hand-made thenable may call back twice,
   * or synchronously, or throw from `then`); a late one is discarded, but ends a grace wait.
   */
  private awaitResult(result: PromiseLike<unknown>, index: number): void {
    const ctx = this.ctx;
    let settled = false;
    const settle = (error: unknown, verdict: unknown, failed: boolean): void => {
      if (settled) return;
      settled = true;
      if (this.ctx !== ctx) return;
      this.promisePending = false;
      if (this.attemptEnded) {
        this.settledAfterEnd();
        return;
      }
      if (failed) this.fail(error);
      else this.continueAfter(index, verdict);
    };
    this.promisePending = true;
    try {
      result.then(
        (verdict) => {
          settle(undefined, verdict, false);
        },
        (error: unknown) => {
          settle(error, undefined, true);
        },
      );
    } catch (error) {
      settle(error, undefined, true);
    }
  }

  /** A plain RxJS operator: it continues the chain by emitting the context, breaks by not emitting. */
  private subscribeOperator(operator: Handler<R, S>, index: number): void {
    const ctx: Context<R, S> = this.ctx;
    const applied = isNamedHandler<R, S>(operator) ? operator.operator : operator;
    let output: Observable<unknown>;
    try {
      output = of(ctx).pipe(applied, take(1));
    } catch (error) {
      this.fail(error);
      return;
    }
    let emitted = false;
    let settled = false;
    const subscription = output.subscribe({
      next: (value) => {
        if (value === ctx) {
          emitted = true;
          return;
        }
        settled = true;
        this.fail(new TypeError(notTheContext(this.handlerName(), value)));
      },
      error: (error: unknown) => {
        settled = true;
        this.fail(error);
      },
      complete: () => {
        if (settled) return;
        settled = true;
        this.continueAfter(index, emitted ? undefined : BREAK);
      },
    });
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set synchronously inside subscribe()
    if (!settled) this.inner = subscription;
  }

  private fail(error: unknown): void {
    this.endAttempt(
      'failed',
      error instanceof HandlerError ? error : new HandlerError(this.handlerName(), toError(error)),
    );
  }

  private handlerName(): string {
    return this.settings.handlerNames[this.position] ?? 'none';
  }

  private endAttempt(end: AttemptEnd, error?: Failure): void {
    if (this.attemptEnded) return;
    this.attemptEnded = true;
    const ctx = this.ctx;
    this.inner?.unsubscribe();
    this.inner = undefined;
    if (this.armedDeadline !== undefined) {
      this.settings.deadlines?.disarm(this, this.armedDeadline);
      this.armedDeadline = undefined;
    }
    if (this.listening) {
      ctx.outerSignal?.removeEventListener('abort', this);
      this.listening = false;
    }
    // Work still in flight must learn it is no longer wanted before cleanup starts.
    if (end === 'timeout' || end === 'aborted') ctx.abort(error);
    const runAttemptDefers = (): void => {
      runDefers(ctx, end, this.settings.deferTimeoutMs, this.settings.scheduler, (deferErrors) => {
        this.afterDefers(end, error, deferErrors);
      });
    };
    if (!this.promisePending) {
      runAttemptDefers();
      return;
    }
    // A Promise cannot be cancelled: hold the record (and its key) until it settles, bounded by
    // deferTimeout, so defers it registers late still run before the outcome.
    let grace: Subscription | undefined;
    this.afterSettle = () => {
      this.afterSettle = undefined;
      grace?.unsubscribe();
      runAttemptDefers();
    };
    if (Number.isFinite(this.settings.deferTimeoutMs)) {
      grace = this.settings.scheduler.schedule(() => {
        this.settledAfterEnd();
      }, this.settings.deferTimeoutMs);
    }
  }

  /** The timed-out or aborted handler's Promise settled, or its grace ran out. */
  private settledAfterEnd(): void {
    this.afterSettle?.();
  }

  private afterDefers(end: AttemptEnd, error: Failure | undefined, deferErrors: DeferError[]): void {
    if (this.cancelled) return;
    const { retry } = this.settings;
    const ctx = this.ctx;
    if ((end === 'failed' || end === 'timeout') && ctx.attempt < retry.maxAttempts) {
      let again: boolean;
      try {
        again = retry.retryable(error as HandlerError | DeadlineExceededError, ctx);
      } catch (predicateError) {
        // User code that breaks ends only its own record: as failed, with the predicate's error.
        this.emit('failed', retryableFailed(this.handlerName(), predicateError), deferErrors);
        return;
      }
      if (again) {
        this.waitThenRetry(retry.delayAfter(ctx.attempt));
        return;
      }
    }
    this.emit(end, error, deferErrors);
  }

  private waitThenRetry(delay: number): void {
    const outer = this.ctx.outerSignal;
    if (outer?.aborted === true) {
      this.emit('aborted', new AbortedError(outer.reason), NO_DEFER_ERRORS);
      return;
    }
    if (outer !== undefined) {
      const onAbort = (): void => {
        this.backoffAbort = undefined;
        this.timer?.unsubscribe();
        this.emit('aborted', new AbortedError(outer.reason), NO_DEFER_ERRORS);
      };
      this.backoffAbort = onAbort;
      outer.addEventListener('abort', onAbort, { once: true });
    }
    this.timer = this.settings.scheduler.schedule(() => {
      this.stopBackoffListener();
      this.beginAttempt(this.ctx.nextAttempt(Number.POSITIVE_INFINITY));
    }, delay);
  }

  private stopBackoffListener(): void {
    if (this.backoffAbort === undefined) return;
    this.ctx.outerSignal?.removeEventListener('abort', this.backoffAbort);
    this.backoffAbort = undefined;
  }

  private emit(end: AttemptEnd, error: Failure | undefined, deferErrors: DeferError[]): void {
    const ctx = this.ctx;
    const common = {
      context: ctx,
      source: ctx.source,
      attempt: ctx.attempt,
      durationMs: this.settings.scheduler.now() - this.startedAt,
      deferErrors,
      ack: ctx.ack,
      nack: ctx.nack,
    };
    let outcome: Outcome<R, S>;
    if (end === 'ok') {
      outcome = { kind: 'ok', ...common };
    } else {
      const handler = this.handlerName();
      switch (end) {
        case 'break':
          outcome = { kind: 'break', handler, ...common };
          break;
        case 'failed':
          outcome = { kind: 'failed', handler, error: error as HandlerError, ...common };
          break;
        case 'timeout':
          outcome = { kind: 'timeout', handler, error: error as DeadlineExceededError, ...common };
          break;
        case 'aborted':
          outcome = { kind: 'aborted', handler, error: error as AbortedError, ...common };
          break;
      }
    }
    this.cancelled = true;
    this.sink.next(outcome);
    this.sink.done(this.slot);
  }
}

/** The failure of a record whose `retry.retryable` predicate threw. */
function retryableFailed(handler: string, error: unknown): HandlerError {
  const cause = toError(error);
  return new HandlerError(handler, new Error(`retry.retryable threw: ${cause.message}`, { cause }));
}
