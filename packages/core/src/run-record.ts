import {
  catchError,
  defer,
  isObservable,
  map,
  mergeMap,
  Observable,
  of,
  retry,
  take,
  throwError,
  timer,
  type SchedulerLike,
  type Subscriber,
  type Subscription,
  type TeardownLogic,
} from 'rxjs';
import { abortWhen, stopWaitingForAbort, waitForAbort, type AbortWaiter } from './abort-when.js';
import { DirectSubscriber } from './direct-subscriber.js';
import { Ready } from './merge-by-key-internals.js';
import type { AttemptEnd, Context, DeferFn, RecordContext } from './context.js';
import { NO_DEFER_ERRORS, runDefers } from './defers.js';
import {
  handlerChannel,
  handlerEnded,
  handlerStarted,
  recordEnded,
  recordStarted,
  type HandlerTrace,
  type HandlerTracing,
  type RecordTrace,
} from './diagnostics.js';
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
import type { Outcome } from './outcome.js';
import type { RetryPolicy } from './retry.js';

/** runChain's options after validation and defaults. */
export interface ChainSettings<R, S> {
  readonly handlers: readonly Handler<R, S>[];
  readonly handlerNames: readonly string[];
  /** Per-attempt deadline; `Infinity` for none. */
  readonly timeoutMs: number;
  readonly deferTimeoutMs: number;
  readonly staticDefers: readonly DeferFn[];
  readonly retry: RetryPolicy;
  readonly scheduler: SchedulerLike;
}

type Failure = HandlerError | DeadlineExceededError | AbortedError;
type Verdict = 'ok' | 'break';

/** How one attempt ended, after its defers ran. */
class AttemptResult<R, S> {
  constructor(
    readonly attempt: Attempt<R, S>,
    readonly end: AttemptEnd,
    /** The handler where the chain stopped (or the last one, for `ok`). */
    readonly handler: string,
    readonly error: Failure | undefined,
    readonly deferErrors: DeferError[],
  ) {}

  get ctx(): RecordContext<R, S> {
    return this.attempt.ctx;
  }
}

/** One attempt in progress: where its chain is, and whether a handler's Promise is still out. */
class Attempt<R, S> implements HandlerTracing {
  // Index of the handler running now (or where the chain stopped).
  position = 0;
  // True once the attempt's end is known; a later unsubscription must not end it again.
  ended = false;
  // True while a handler's Promise has not settled (a Promise cannot be cancelled).
  promisePending = false;
  // Called when that Promise settles; set while the attempt waits for it after a timeout or abort.
  onPromiseSettled: (() => void) | undefined;
  // Diagnostics (diagnostics.ts): whether handler events are published, and the handler running now.
  readonly traceHandlers = handlerChannel.hasSubscribers;
  handlerTrace: HandlerTrace | undefined;

  constructor(
    readonly ctx: RecordContext<R, S>,
    readonly settings: ChainSettings<R, S>,
    /** When the record's first attempt started, on the chain's scheduler. */
    readonly recordStartedAt: number,
    readonly recordTrace: RecordTrace | undefined,
  ) {}

  handlerName(): string {
    return this.settings.handlerNames[this.position] ?? 'none';
  }
}

/**
 * One record's pipeline: attempts (handlers in order, the deadline, the outer signal, then the
 * defers, awaited), retried with `retry({ count, delay })`, ending in exactly one outcome.
 * Synchronous handlers run when the worker starts the record; only a chain that goes asynchronous
 * is wrapped in a deadline and an abort listener, since nothing can interrupt a synchronous one.
 * A record whose chain finished synchronously (and is not retried) returns `Ready` with its outcome
 * instead of an Observable: the pool emits it without a subscription.
 */
export function runRecord<R, S>(
  first: RecordContext<R, S>,
  settings: ChainSettings<R, S>,
): Observable<Outcome<R, S>> | Ready<Outcome<R, S>> {
  const trace = recordStarted(first, settings.handlerNames);
  const attempt = new Attempt(first, settings, settings.scheduler.now(), trace);
  if (settings.retry.maxAttempts > 1) return withRetries(attempt);
  const only = runAttempt(attempt, toOutcome);
  // A synchronous record needs no pipeline at all.
  return only instanceof AttemptResult ? new Ready(toOutcome(only)) : only;
}

/** The record's outcome from its last attempt's result. A function, not a closure per record. */
function toOutcome<R, S>(result: AttemptResult<R, S>): Outcome<R, S> {
  const { attempt } = result;
  const durationMs = attempt.settings.scheduler.now() - attempt.recordStartedAt;
  return recordEnded(attempt.recordTrace, outcomeOf(result, durationMs));
}

/** `runRecord` for a retry policy of more than one attempt. */
function withRetries<R, S>(first: Attempt<R, S>): Observable<Outcome<R, S>> | Ready<Outcome<R, S>> {
  const { settings } = first;
  const { scheduler, retry: policy } = settings;
  const firstAttempt = runAttempt(first, same);
  if (firstAttempt instanceof AttemptResult) {
    const decision = retryDecision(firstAttempt, policy);
    if (decision === false) return new Ready(toOutcome(firstAttempt));
    if (decision !== true) return new Ready(toOutcome(decision));
  }

  // The context of the latest attempt; a retry makes the next one from it.
  let ctx = first.ctx;
  // The latest attempt's result, for an abort during the backoff that follows it.
  let latest: AttemptResult<R, S> | undefined;
  return defer(() => {
    if (latest === undefined) return asObservable(firstAttempt);
    ctx = ctx.nextAttempt(Number.POSITIVE_INFINITY);
    return asObservable(runAttempt(new Attempt(ctx, settings, first.recordStartedAt, first.recordTrace), same));
  }).pipe(
    mergeMap((result) => {
      latest = result;
      const again = retryDecision(result, policy);
      return again === true ? throwError(() => result) : of(again === false ? result : again);
    }),
    retry({
      count: policy.maxAttempts - 1,
      delay: (_result, retryCount) => {
        const wait = timer(policy.delayAfter(retryCount), scheduler);
        return ctx.outerSignal === undefined ? wait : wait.pipe(abortWhen(ctx.outerSignal));
      },
    }),
    catchError((error: unknown) => {
      // Shutdown or revoke during the backoff: the record ends aborted, without another attempt.
      if (error instanceof AbortedError && latest !== undefined) {
        return of(new AttemptResult(latest.attempt, 'aborted', latest.handler, error, NO_DEFER_ERRORS));
      }
      return throwError(() => error);
    }),
    map(toOutcome),
  );
}

const same = <T>(value: T): T => value;

function asObservable<T>(value: T | Observable<T>): Observable<T> {
  return isObservable(value) ? value : of(value);
}

/**
 * True to retry; false to end with this result; or a replacement result when the `retryable`
 * predicate threw (user code that breaks fails its own record, never the stream).
 */
function retryDecision<R, S>(result: AttemptResult<R, S>, policy: RetryPolicy): boolean | AttemptResult<R, S> {
  if ((result.end !== 'failed' && result.end !== 'timeout') || result.ctx.attempt >= policy.maxAttempts) return false;
  try {
    return policy.retryable(result.error as HandlerError | DeadlineExceededError, result.ctx);
  } catch (error) {
    const cause = toError(error);
    const failure = new HandlerError(result.handler, new Error(`retry.retryable threw: ${cause.message}`, { cause }));
    return new AttemptResult(result.attempt, 'failed', result.handler, failure, result.deferErrors);
  }
}

/** One attempt: the handlers, bounded by the deadline and the outer signal, then the defers. */
function runAttempt<R, S, O>(
  attempt: Attempt<R, S>,
  finish: (result: AttemptResult<R, S>) => O,
): AttemptResult<R, S> | Observable<O> {
  const { ctx, settings } = attempt;
  for (const defer of settings.staticDefers) ctx.defer(defer);
  const outer = ctx.outerSignal;
  if (outer?.aborted === true) return ended(endAttempt(attempt, 'aborted', new AbortedError(outer.reason)), finish);
  const { timeoutMs, scheduler } = settings;
  if (timeoutMs !== Number.POSITIVE_INFINITY) ctx.deadline = scheduler.now() + timeoutMs;

  const first = advance(attempt, 0);
  // A synchronous chain has its verdict already: straight to the defers.
  if (first === 'ok' || first === 'break') return ended(endAttempt(attempt, first, undefined), finish);
  if (first instanceof HandlerError) return ended(endAttempt(attempt, 'failed', first), finish);

  return new AsyncAttempt(attempt, first, finish);
}

/** A synchronous end is returned as is; defers to await make it an Observable of `finish`ed results. */
function ended<R, S, O>(
  result: AttemptResult<R, S> | Observable<AttemptResult<R, S>>,
  finish: (result: AttemptResult<R, S>) => O,
): AttemptResult<R, S> | Observable<O> {
  return result instanceof AttemptResult ? result : result.pipe(map(finish));
}

/** A handler's result that must be waited for: an Observable, a PromiseLike, or a plain operator. */
class Pending {
  constructor(
    /** Emits the verdict (its last value), or, for an operator, the context to continue. */
    readonly result: Observable<unknown> | PromiseLike<unknown>,
    readonly index: number,
    /** A plain operator: continues if it emitted the context, breaks if it emitted nothing. */
    readonly isOperator: boolean,
  ) {}
}

/**
 * Runs handlers from `index` on, synchronous ones in this loop, until the chain ends (its verdict,
 * or the failure) or a handler returns something to wait for.
 */
function advance<R, S>(attempt: Attempt<R, S>, index: number): Verdict | HandlerError | Pending {
  const { ctx, settings } = attempt;
  const { handlers } = settings;
  for (let i = index; i < handlers.length; i++) {
    attempt.position = i;
    if (attempt.traceHandlers) handlerStarted(attempt, ctx, i, attempt.handlerName());
    const current = handlers[i];
    if (current === undefined) break;
    if (!isLiftedHandler<R, S>(current)) {
      const operator = isNamedHandler<R, S>(current) ? current.operator : current;
      const given: Context<R, S> = ctx;
      let applied: Observable<unknown>;
      try {
        applied = of(given).pipe(operator, take(1));
      } catch (error) {
        return asHandlerError(attempt, error);
      }
      return new Pending(applied, i, true);
    }
    let result: HandlerResult;
    try {
      result = callBody(current, ctx);
    } catch (error) {
      return asHandlerError(attempt, error);
    }
    if (result === undefined) continue;
    if (result === BREAK) return 'break';
    if (isObservable(result)) return new Pending(result, i, false);
    if (isPromiseLike(result)) return new Pending(result, i, false);
  }
  return 'ok';
}

/**
 * The rest of an attempt whose chain went asynchronous, as one Observable. Its subscription runs the
 * pending steps in turn (handlers never overlap within a record; the synchronous ones between them
 * run in `advance`'s loop), bounded by the deadline (as RxJS `timeout` on the scheduler) and the outer
 * signal (as `abortWhen`), then ends the attempt (defers run, awaited, as an awaited `finalize`) and
 * emits its result. Unsubscribed first (shutdown), it cancels the running step and ends the attempt
 * as aborted: its defers still run, and nothing is emitted. Two objects per record, where those
 * operators took an Observable, a subscriber and closures each: records in flight outlive young-
 * generation collections, which copy every object they hold (docs/decisions.md 57).
 */
class AsyncAttempt<R, S, O> extends Observable<O> {
  constructor(
    readonly attempt: Attempt<R, S>,
    readonly first: Pending,
    readonly finish: (result: AttemptResult<R, S>) => O,
  ) {
    super(subscribeAsyncAttempt);
  }
}

/** RxJS calls an Observable's subscribe function with the Observable as `this`: no closure per record. */
function subscribeAsyncAttempt(this: Observable<unknown>, subscriber: Subscriber<unknown>): TeardownLogic {
  if (!(this instanceof AsyncAttempt)) throw new TypeError('subscribeAsyncAttempt: not an AsyncAttempt');
  const { attempt, first, finish } = this;
  const run = new AttemptRun(attempt, finish, subscriber);
  run.start(first);
  return run;
}

/** One subscription to an `AsyncAttempt`: the running step, the deadline, the abort waiter, the defers. */
class AttemptRun<R, S, O> implements AbortWaiter {
  // The step running now, if it is an Observable.
  running: Subscription | undefined;
  // The deadline's scheduled action, while the chain runs.
  #deadline: Subscription | undefined;
  // The defers step, once the chain has ended with defers to await.
  #defers: Subscription | undefined;
  // True once the chain has its verdict, or its failure, or was cancelled.
  #chainEnded = false;

  constructor(
    readonly attempt: Attempt<R, S>,
    private readonly finish: (result: AttemptResult<R, S>) => O,
    private readonly subscriber: Subscriber<O>,
  ) {}

  start(first: Pending): void {
    const { ctx, settings } = this.attempt;
    const outer = ctx.outerSignal;
    // Listening first: a handler may abort the signal itself, synchronously.
    if (outer !== undefined) {
      if (outer.aborted) {
        this.aborted(outer.reason);
        return;
      }
      waitForAbort(outer, this);
    }
    this.follow(first);
    const { timeoutMs, scheduler } = settings;
    if (!this.#chainEnded && timeoutMs !== Number.POSITIVE_INFINITY) {
      this.#deadline = scheduler.schedule(deadlinePassed, Math.max(0, ctx.deadline - scheduler.now()), this);
    }
  }

  /** The outer signal aborted (shutdown, revoke). */
  aborted(reason: unknown): void {
    this.chainEnded('aborted', new AbortedError(reason));
  }

  timedOut(): void {
    this.chainEnded('timeout', new DeadlineExceededError(this.attempt.handlerName(), this.attempt.settings.timeoutMs));
  }

  /** The step's verdict is in: stop, fail, or run the handlers after it. */
  stepDone(pending: Pending, broke: boolean): void {
    const next = broke ? 'break' : advance(this.attempt, pending.index + 1);
    if (next instanceof Pending) this.follow(next);
    else if (next instanceof HandlerError) this.chainEnded('failed', next);
    else this.chainEnded(next, undefined);
  }

  stepFailed(error: unknown): void {
    this.chainEnded('failed', asHandlerError(this.attempt, error));
  }

  follow(pending: Pending): void {
    const { result } = pending;
    const { attempt } = this;
    if (!isObservable(result)) {
      // A Promise needs no Observable of its own. Only its first settlement counts (a hand-made
      // thenable may call back twice, synchronously, or throw from `then`); the attempt learns of it
      // even after the record stopped waiting (deadline, abort), so its defers can wait for it.
      let settled = false;
      const onValue = (value: unknown): void => {
        if (settled) return;
        settled = true;
        promiseSettled(attempt);
        if (!this.#chainEnded) this.stepDone(pending, value === BREAK);
      };
      const onError = (error: unknown): void => {
        if (settled) return;
        settled = true;
        promiseSettled(attempt);
        if (!this.#chainEnded) this.stepFailed(error);
      };
      attempt.promisePending = true;
      try {
        result.then(onValue, onError);
      } catch (error) {
        onError(error);
      }
      return;
    }
    const step = new StepSubscriber(this, pending);
    this.running = step;
    result.subscribe(step);
  }

  /** The teardown: an attempt cancelled before its chain ended ends aborted, and its defers run. */
  unsubscribe(): void {
    this.#defers?.unsubscribe();
    if (this.#chainEnded) return;
    this.stopChain();
    const { attempt } = this;
    if (attempt.ended) return;
    const aborted = endAttempt(attempt, 'aborted', new AbortedError('unsubscribed'));
    if (!(aborted instanceof AttemptResult)) aborted.subscribe();
  }

  /** The chain ended: stop what bounds it, end the attempt (defers), and emit its result. */
  private chainEnded(end: AttemptEnd, error: Failure | undefined): void {
    if (this.#chainEnded) return;
    this.stopChain();
    const result = endAttempt(this.attempt, end, error);
    const { subscriber, finish } = this;
    if (result instanceof AttemptResult) {
      subscriber.next(finish(result));
      subscriber.complete();
      return;
    }
    this.#defers = result.subscribe({
      next: (value) => {
        subscriber.next(finish(value));
      },
      complete: () => {
        subscriber.complete();
      },
    });
  }

  /** Cancels the running step and the deadline, and stops waiting on the outer signal. */
  private stopChain(): void {
    this.#chainEnded = true;
    this.running?.unsubscribe();
    this.#deadline?.unsubscribe();
    const outer = this.attempt.ctx.outerSignal;
    if (outer !== undefined) stopWaitingForAbort(outer, this);
  }
}

function deadlinePassed(this: unknown, run?: Pick<AttemptRun<unknown, unknown, unknown>, 'timedOut'>): void {
  run?.timedOut();
}

/** One Observable step of a chain: keeps its last value, and passes its verdict on when it completes. */
class StepSubscriber<R, S> extends DirectSubscriber<unknown> {
  // The step's last value, and whether it emitted at all.
  #last: unknown;
  #emitted = false;

  constructor(
    private readonly steps: AttemptRun<R, S, unknown>,
    private readonly pending: Pending,
  ) {
    super();
  }

  protected onNext(value: unknown): void {
    this.#last = value;
    this.#emitted = true;
  }

  protected onError(error: unknown): void {
    this.steps.stepFailed(error);
  }

  protected onComplete(): void {
    const { steps, pending } = this;
    const emitted = this.#emitted;
    // An operator continues by passing on its context: anything else is a clear failure.
    if (pending.isOperator && emitted && this.#last !== steps.attempt.ctx) {
      steps.stepFailed(new TypeError(notTheContext(steps.attempt.handlerName(), this.#last)));
    } else {
      steps.stepDone(pending, pending.isOperator ? !emitted : this.#last === BREAK);
    }
  }
}

/** A handler's Promise settled: an attempt waiting for it (after a timeout or abort) may go on. */
function promiseSettled(attempt: Pick<Attempt<unknown, unknown>, 'promisePending' | 'onPromiseSettled'>): void {
  attempt.promisePending = false;
  attempt.onPromiseSettled?.();
}

/**
 * Ends an attempt: aborts its signal on timeout or abort, waits for a pending handler Promise
 * (bounded by deferTimeout: the record and its key stay held meanwhile), runs the defers (awaited,
 * each bounded by deferTimeout), then emits the result. Defers are never cancelled once started.
 */
function endAttempt<R, S>(
  attempt: Attempt<R, S>,
  end: AttemptEnd,
  error: Failure | undefined,
): AttemptResult<R, S> | Observable<AttemptResult<R, S>> {
  attempt.ended = true;
  const { ctx, settings } = attempt;
  // Work still in flight must learn it is no longer wanted before cleanup starts.
  if (end === 'timeout' || end === 'aborted') ctx.abort(error);
  handlerEnded(attempt, end, error);
  const handler = attempt.handlerName();
  // Most records register no defers and wait on nothing.
  if (!ctx.hasDefers && !attempt.promisePending) {
    ctx.closeDefers(end);
    return new AttemptResult(attempt, end, handler, error, NO_DEFER_ERRORS);
  }
  return new Observable<AttemptResult<R, S>>((subscriber) => {
    const { deferTimeoutMs, scheduler } = settings;
    const runTheDefers = (): void => {
      runDefers(ctx, end, deferTimeoutMs, scheduler, (deferErrors) => {
        subscriber.next(new AttemptResult(attempt, end, handler, error, deferErrors));
        subscriber.complete();
      });
    };
    if (!attempt.promisePending) {
      runTheDefers();
      return;
    }
    let grace: Subscription | undefined;
    const stopWaiting = (): void => {
      if (attempt.onPromiseSettled === undefined) return;
      attempt.onPromiseSettled = undefined;
      grace?.unsubscribe();
      runTheDefers();
    };
    attempt.onPromiseSettled = stopWaiting;
    if (deferTimeoutMs !== Number.POSITIVE_INFINITY) grace = scheduler.schedule(stopWaiting, deferTimeoutMs);
  });
}

function asHandlerError<R, S>(attempt: Attempt<R, S>, error: unknown): HandlerError {
  return error instanceof HandlerError ? error : new HandlerError(attempt.handlerName(), toError(error));
}

function outcomeOf<R, S>(result: AttemptResult<R, S>, durationMs: number): Outcome<R, S> {
  const { ctx, end, handler, error, deferErrors } = result;
  // Object literals, not spreads of a shared part: one allocation per record on the hot path.
  if (end === 'ok') {
    return {
      kind: 'ok',
      context: ctx,
      source: ctx.source,
      attempt: ctx.attempt,
      durationMs,
      deferErrors,
      ack: ctx.ack,
      nack: ctx.nack,
    };
  }
  if (end === 'break') {
    return {
      kind: 'break',
      handler,
      context: ctx,
      source: ctx.source,
      attempt: ctx.attempt,
      durationMs,
      deferErrors,
      ack: ctx.ack,
      nack: ctx.nack,
    };
  }
  // failed, timeout and aborted: `error` is the failure that matches `end`.
  return {
    kind: end,
    handler,
    error,
    context: ctx,
    source: ctx.source,
    attempt: ctx.attempt,
    durationMs,
    deferErrors,
    ack: ctx.ack,
    nack: ctx.nack,
  } as Outcome<R, S>;
}
