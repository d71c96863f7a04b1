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
  take,
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
 * A handler body. It gets the record's signal as its second argument (`ctx.signal`, which aborts on
 * the record's deadline, on shutdown and on revoke) whenever it can read one: only a body whose
 * source shows a single plain parameter is spared creating it.
 */
export type HandlerFn<R, S> = (ctx: Context<R, S>, signal: AbortSignal) => HandlerResult;

/**
 * A handler is an RxJS operator over contexts. It sees one record at a time: it must emit the context
 * it was given (continue), emit nothing and complete (break), or error (fail).
 */
export type Handler<R, S> = OperatorFunction<Context<R, S>, Context<R, S>> & {
  readonly handlerName?: string;
};

/** A handler made by `handler()`: runChain calls its body directly, skipping a subscription. */
export interface LiftedHandler<R, S> extends Handler<R, S> {
  readonly handlerName: string;
  readonly body: HandlerFn<R, S>;
  /**
   * False only when the body provably cannot see a second argument (see `mayReadSignal`): then the
   * signal, which costs about 2 µs to create in Node 20, is not made for it.
   * @internal
   */
  readonly readsSignal: boolean;
}

/**
 * What a chain of `runChain<R, S>` accepts: any operator that takes this chain's contexts and
 * passes contexts on. So a record-agnostic handler (`handler<unknown, object>('audit', …)`), which
 * takes every context, fits every chain, while a handler for another record type does not.
 */
export type ChainHandler<R, S> = ((source: Observable<Context<R, S>>) => Observable<Context<unknown, unknown>>) & {
  readonly handlerName?: string;
};

/** A plain operator with a name (`named()`); runChain applies `operator` to one context at a time. */
export interface NamedHandler<R, S> extends Handler<R, S> {
  readonly handlerName: string;
  readonly operator: OperatorFunction<Context<R, S>, Context<R, S>>;
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
          result = callBody(lifted, ctx);
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
    readsSignal: mayReadSignal(body),
  });
  return lifted;
}

/** Calls a lifted handler's body with the record's signal, unless the body cannot read it. */
export function callBody<R, S>(lifted: LiftedHandler<R, S>, ctx: Context<R, S>): HandlerResult {
  return lifted.readsSignal
    ? lifted.body(ctx, ctx.signal)
    : (lifted.body as (ctx: Context<R, S>) => HandlerResult)(ctx);
}

/**
 * Whether a function may read its second argument. False only when its source shows at most one
 * plain parameter (no default, no rest) and, unless it is an arrow function, no use of `arguments`.
 * Anything else, including wrappers `(...args) => inner(...args)`, defaults, bound and native
 * functions, gets the signal: a wrong "true" costs time, a wrong "false" would lose the signal.
 */
export function mayReadSignal(fn: (...args: never[]) => unknown): boolean {
  if (fn.length >= 2) return true;
  let source: string;
  try {
    source = Function.prototype.toString.call(fn);
  } catch {
    return true;
  }
  if (source.includes('[native code]')) return true;
  const params = parameterList(source);
  if (params === undefined) return true;
  if (!params.isArrow && /\barguments\b|\beval\b/.test(source)) return true;
  return params.count > 1 || params.hasDefaultOrRest;
}

/** The shape of a function's parameter list, read from its source; undefined when unsure. */
function parameterList(source: string): { count: number; hasDefaultOrRest: boolean; isArrow: boolean } | undefined {
  const text = source.trimStart().replace(/^async\b\s*/, '');
  // A single unparenthesised arrow parameter: `ctx => …`.
  const bare = /^[A-Za-z_$][\w$]*\s*=>/.exec(text);
  if (bare !== null) return { count: 1, hasDefaultOrRest: false, isArrow: true };
  const open = text.indexOf('(');
  if (open < 0) return undefined;
  const head = text.slice(0, open);
  if (/[=>{}]/.test(head)) return undefined;
  let depth = 0;
  let count = 0;
  let sawToken = false;
  let hasDefaultOrRest = false;
  for (let i = open + 1; i < text.length; i++) {
    const char = text.charAt(i);
    if (char === '"' || char === "'" || char === '`' || char === '/') return undefined;
    if (char === '(' || char === '[' || char === '{') depth++;
    else if (char === ')' || char === ']' || char === '}') {
      if (depth === 0) {
        if (sawToken) count++;
        const rest = text.slice(i + 1).trimStart();
        return { count, hasDefaultOrRest, isArrow: rest.startsWith('=>') };
      }
      depth--;
    } else if (depth === 0 && char === ',') {
      count++;
      sawToken = false;
      continue;
    } else if (depth === 0 && (char === '=' || (char === '.' && text.startsWith('...', i)))) {
      hasDefaultOrRest = true;
    }
    if (!/\s/.test(char)) sawToken = true;
  }
  return undefined;
}

/**
 * Gives a plain RxJS operator a name for outcomes and errors.
 *
 * The operator sees one context at a time, inside `runChain` and outside it alike: it is applied to
 * each context on its own, so operators that work across values (`distinct`, `bufferCount`, `scan`)
 * do not act across records. Useful ones: `map`/`tap` (returning the same context), `filter` (a break),
 * `delay`, `mergeMap`/`switchMap` to a call that ends with the context, `timeout`, `retry`, `catchError`.
 * Emitting anything but the context it was given fails the record with a clear error.
 */
export function named<R, S>(
  name: string,
  operator: OperatorFunction<Context<R, S>, Context<R, S>>,
): NamedHandler<R, S> {
  if (typeof name !== 'string' || name.length === 0) throw new TypeError('named: name must be a non-empty string');
  if (typeof operator !== 'function') throw new TypeError(`named "${name}": operator must be a function`);
  const wrapped = (source: Observable<Context<R, S>>): Observable<Context<R, S>> =>
    source.pipe(concatMap((ctx) => applyToOne(operator, ctx, name)));
  return Object.assign(wrapped, { handlerName: name, operator });
}

/**
 * Applies an operator handler to one context: the context (continue), nothing (break) or an error.
 * An operator that throws when applied, or emits a value other than the context, errors.
 */
export function applyToOne<C>(operator: OperatorFunction<C, unknown>, ctx: C, name: string): Observable<C> {
  let applied: Observable<unknown>;
  try {
    applied = of(ctx).pipe(operator);
  } catch (error) {
    return throwError(() => toError(error));
  }
  return applied.pipe(
    take(1),
    map((value) => {
      if (value !== ctx) throw new HandlerError(name, new TypeError(notTheContext(name, value)));
      return ctx;
    }),
  );
}

/** Why an operator handler may not replace its context. */
export function notTheContext(name: string, value: unknown): string {
  const what = value === null || typeof value !== 'object' ? typeof value : 'another object';
  return (
    `operator handler "${name}" emitted ${what} instead of the context it was given; ` +
    'a handler continues by emitting that same context (change ctx.state, or ctx.emit() outputs), ' +
    'and breaks by emitting nothing'
  );
}

export function isLiftedHandler<R, S>(candidate: unknown): candidate is LiftedHandler<R, S> {
  return typeof (candidate as Partial<LiftedHandler<R, S>>).body === 'function';
}

export function isNamedHandler<R, S>(candidate: unknown): candidate is NamedHandler<R, S> {
  return typeof (candidate as Partial<NamedHandler<R, S>>).operator === 'function';
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
