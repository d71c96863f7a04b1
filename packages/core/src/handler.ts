import {
  catchError,
  concatMap,
  EMPTY,
  from,
  isObservable,
  last,
  map,
  Observable,
  of,
  throwError,
  type OperatorFunction,
} from 'rxjs';
import type { Context } from './context.js';
import { HandlerError, toError } from './errors.js';

/** Return this from a handler to stop the chain quietly: the Go original's `needBreak`. */
export const BREAK: unique symbol = Symbol.for('rxkafka.break');
export type Break = typeof BREAK;

/** What a lifted handler function may return. Anything but `BREAK` means "continue". */
export type HandlerResult = void | Break | PromiseLike<unknown> | Observable<unknown>;

/**
 * A handler body. Declare the second parameter only if you need the signal:
 * the abort controller is created lazily, and most handlers never need it.
 */
export type HandlerFn<R, S> = (ctx: Context<R, S>, signal: AbortSignal) => HandlerResult;

/** A handler is an RxJS operator over contexts. A plain operator that drops the context is a break. */
export type Handler<R, S> = OperatorFunction<Context<R, S>, Context<R, S>> & {
  readonly handlerName?: string;
};

/** A handler made by `handler()`: runChain calls its body directly, skipping a subscription. */
export interface LiftedHandler<R, S> extends Handler<R, S> {
  readonly handlerName: string;
  readonly body: HandlerFn<R, S>;
  /** The body declares a second parameter, so it gets the signal (read once, not per record). */
  readonly wantsSignal: boolean;
}

/**
 * Lifts a sync, Promise or Observable function into a handler.
 *
 * @example
 * ```ts
 * const validate = handler<Order, State>('validate', (ctx) => (ctx.record.qty > 0 ? undefined : BREAK));
 * const enrich = handler<Order, State>('enrich', async (ctx, signal) => {
 *   ctx.state.customer = await customers.get(ctx.record.customerId, { signal });
 * });
 * ```
 * @param name Names the handler in outcomes, errors and dead-letter headers.
 * @param body Returns `BREAK` to stop the chain; throws, rejects or errors to fail it.
 * @return An operator over contexts.
 */
export function handler<R, S>(name: string, body: HandlerFn<R, S>): LiftedHandler<R, S> {
  if (typeof name !== 'string' || name.length === 0) throw new TypeError('handler: name must be a non-empty string');
  if (typeof body !== 'function') throw new TypeError(`handler "${name}": body must be a function`);
  const operator = (source: Observable<Context<R, S>>): Observable<Context<R, S>> =>
    source.pipe(
      concatMap((ctx) => {
        let result: HandlerResult;
        try {
          result = invokeHandler(lifted, ctx);
        } catch (error) {
          throw new HandlerError(name, toError(error));
        }
        return settleResult(result).pipe(
          concatMap((outcome) => (outcome === BREAK ? EMPTY : of(ctx))),
          wrapHandlerErrors(name),
        );
      }),
    );
  const lifted: LiftedHandler<R, S> = Object.assign(operator, {
    handlerName: name,
    body,
    wantsSignal: body.length >= 2,
  });
  return lifted;
}

/** Gives a plain RxJS operator a name for outcomes and errors. */
export function named<R, S>(name: string, operator: OperatorFunction<Context<R, S>, Context<R, S>>): Handler<R, S> {
  if (typeof name !== 'string' || name.length === 0) throw new TypeError('named: name must be a non-empty string');
  if (typeof operator !== 'function') throw new TypeError(`named "${name}": operator must be a function`);
  const wrapped = (source: Observable<Context<R, S>>): Observable<Context<R, S>> => operator(source);
  return Object.assign(wrapped, { handlerName: name });
}

export function isLiftedHandler<R, S>(candidate: Handler<R, S>): candidate is LiftedHandler<R, S> {
  return typeof (candidate as Partial<LiftedHandler<R, S>>).body === 'function';
}

/** Calls a body, passing the signal only when the body declares it. */
export function invokeHandler<R, S>(lifted: LiftedHandler<R, S>, ctx: Context<R, S>): HandlerResult {
  return lifted.wantsSignal
    ? lifted.body(ctx, ctx.signal)
    : (lifted.body as (ctx: Context<R, S>) => HandlerResult)(ctx);
}

export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** One value: `BREAK` or "continue" (`undefined`). An Observable's last value decides; empty means continue. */
function settleResult(result: HandlerResult): Observable<Break | undefined> {
  if (isObservable(result)) return result.pipe(last(undefined, undefined), map(asVerdict));
  if (isPromiseLike(result)) return from(result).pipe(map(asVerdict));
  return of(asVerdict(result));
}

function asVerdict(value: unknown): Break | undefined {
  return value === BREAK ? BREAK : undefined;
}

function wrapHandlerErrors<T>(name: string): OperatorFunction<T, T> {
  return catchError((error: unknown) =>
    throwError(() => (error instanceof HandlerError ? error : new HandlerError(name, toError(error)))),
  );
}
