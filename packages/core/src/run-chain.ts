import { asyncScheduler, throwError, Observable, type OperatorFunction, type SchedulerLike } from 'rxjs';
import { z } from 'zod';
import { isRecordContext, type Context, type DeferFn, type RecordContext, type SourceRecord } from './context.js';
import { ConfigError } from './errors.js';
import type { ChainHandler, Handler } from './handler.js';
import { mergeByKeyInternals, Ready } from './merge-by-key-internals.js';
import { PoolGauges } from './merge-map-by-key.js';
import { durationMs, fn, parseOptions, positiveInt } from './options.js';
import type { InvalidOutcome, Outcome } from './outcome.js';
import { runRecord, type ChainSettings } from './run-record.js';
import { unorderedPool, type Pool } from './unordered-pool.js';
import { retryPolicy, retrySchema, type RetryOptions } from './retry.js';

/** What must not overlap: one key at a time, one partition at a time, or nothing. */
export type Ordering = 'key' | 'partition' | 'unordered';

export interface RunChainOptions<R, S> {
  /** Records processed at once: the worker pool size. Default 16. */
  readonly concurrency?: number;
  /**
   * Per-attempt deadline in milliseconds, at most 2^31−1. On expiry the signal aborts and the outcome is
   * `timeout`. Default `Infinity`: none.
   */
  readonly timeout?: number;
  /** Default `'key'`: handlers never overlap for one key and outcomes keep input order per key. */
  readonly ordering?: Ordering;
  /** Retries of failed and timed-out attempts. Default: one attempt. */
  readonly retry?: RetryOptions<R, S>;
  /** Defers registered before every attempt, so they run after all the ones handlers register. */
  readonly defers?: readonly DeferFn[];
  /**
   * Bound on each async defer, and on how long a timed-out or aborted handler's Promise may take to
   * settle before the defers run, in milliseconds (at most 2^31−1, or `Infinity`). Default 5000.
   */
  readonly deferTimeout?: number;
  /**
   * Most records waiting for a worker or their key before the stream errors. Default 10,000, or, applied
   * directly to a source with a larger `maxInFlight`, that: the source never hands out more. An explicit
   * value below the source's `maxInFlight`, which it could overflow, is a `ConfigError`.
   */
  readonly maxQueued?: number;
  /** Live pool counters, for metrics. */
  readonly gauges?: PoolGauges;
  /** Where deadlines, backoff and durations are timed. Default `asyncScheduler` (virtual in marble tests). */
  readonly scheduler?: SchedulerLike;
}

const optionsSchema = z.strictObject({
  concurrency: positiveInt('the worker pool size').optional(),
  timeout: durationMs('a per-record deadline')
    .refine((ms) => ms > 0, { error: 'a per-record deadline in milliseconds (a number > 0, or Infinity for none)' })
    .optional(),
  ordering: z.enum(['key', 'partition', 'unordered'], { error: "one of 'key', 'partition', 'unordered'" }).optional(),
  retry: retrySchema.optional(),
  defers: z.array(fn<DeferFn>('a defer')).optional(),
  deferTimeout: durationMs('a bound on each defer').optional(),
  maxQueued: positiveInt('the most records allowed to wait').optional(),
  gauges: z.instanceof(PoolGauges, { error: 'a PoolGauges instance' }).optional(),
  scheduler: z
    .custom<SchedulerLike>((value) => typeof (value as Partial<SchedulerLike> | null)?.schedule === 'function', {
      error: 'an RxJS scheduler',
    })
    .optional(),
});

/** A record for runChain: a context to run, or an invalid record that passes straight through. */
export type ChainInput<R, S> = Context<R, S> | InvalidOutcome;

/**
 * Runs every context through the handlers in strict order, many records at once.
 *
 * Each record gets a deadline, retries, and defers that always run (in reverse order) before
 * its outcome is emitted. The stream never errors because one record failed: failures are outcomes.
 *
 * Composition: the worker pool is `mergeMap` with the concurrency limit (`unordered`) or
 * `mergeMapByKey` (`key`, `partition`); each record is one pipeline: its handlers in order, the
 * deadline as a timer on `scheduler`, the outer signal, the defers awaited as the attempt's last
 * step, and `retry({ count, delay })` around the attempt. Once a chain goes asynchronous, that
 * pipeline is one Observable (`AsyncAttempt`, docs/decisions.md 57).
 *
 * A deadline does not release the key early: the signal aborts and an Observable or operator
 * handler is unsubscribed at once, but a Promise cannot be cancelled, so the record (and, in `key`
 * and `partition` mode, its key) stays held until that Promise settles, for at most `deferTimeout`.
 * Defers the handler registers meanwhile run before the outcome; defers registered later run at once.
 *
 * @example
 * ```ts
 * contexts$.pipe(
 *   runChain([validate, enrich, score], { concurrency: 64, timeout: 5_000, ordering: 'key' }),
 * ).subscribe((outcome) => console.log(outcome.kind)); // 'ok' | 'break' | 'failed' | 'timeout' | ...
 * ```
 * @param chain Handlers, run in order: the Go original's base handler list.
 * @param options Validated now; a bad option throws a `ConfigError` naming it.
 * @return An operator from contexts to outcomes.
 */
export function runChain<R, S>(
  chain: readonly ChainHandler<R, S>[],
  options?: RunChainOptions<R, S>,
): OperatorFunction<ChainInput<R, S>, Outcome<R, S>> {
  // Checked for JavaScript callers; `Array.isArray` would widen the typed chain to `any[]`.
  const handlers: readonly unknown[] = chain;
  if (!Array.isArray(handlers) || handlers.some((h) => typeof h !== 'function')) {
    throw new TypeError('runChain: chain must be an array of handlers (operators over contexts)');
  }
  const parsed = parseOptions(optionsSchema, options);
  const settings: ChainSettings<R, S> = {
    // Handlers pass on the contexts they are given (checked per record), so the chain is homogeneous.
    handlers: [...chain] as unknown as Handler<R, S>[],
    handlerNames: chain.map((h, i) => h.handlerName ?? `handler#${String(i)}`),
    timeoutMs: parsed.timeout ?? Number.POSITIVE_INFINITY,
    deferTimeoutMs: parsed.deferTimeout ?? 5_000,
    staticDefers: parsed.defers ?? [],
    retry: retryPolicy(parsed.retry as RetryOptions<never, never> | undefined),
    scheduler: parsed.scheduler ?? asyncScheduler,
  };
  const project = (input: ChainInput<R, S>): Observable<Outcome<R, S>> | Ready<Outcome<R, S>> => {
    if (isRecordContext(input)) return runRecord(input as RecordContext<R, S>, settings);
    if (isInvalidOutcome(input)) return new Ready<Outcome<R, S>>(input);
    return throwError(() => new TypeError('runChain: inputs must come from createContext() or be invalid outcomes'));
  };
  const concurrency = parsed.concurrency ?? 16;
  const gauges = parsed.gauges ?? new PoolGauges();
  const ordering = parsed.ordering ?? 'key';
  // Checks the pool against a source that bounds what it hands out, tells the source, and sizes the queue.
  const attach = (observable: Observable<ChainInput<R, S>>): Pool => {
    const source = observable as Partial<InFlightLimitedSource>;
    checkPoolFitsSource(source, concurrency);
    source.chainAttached?.({ concurrency, ordering, gauges });
    return { concurrency, maxQueued: queueBound(source, parsed.maxQueued), gauges };
  };
  if (ordering === 'unordered') return (source) => unorderedPool(project, attach(source))(source);
  // mergeMapByKey, with its internals called directly so that synchronous records skip a subscription.
  const keyOf = orderingKey(ordering);
  return (source) => {
    const pool = attach(source);
    return new Observable<Outcome<R, S>>((subscriber) =>
      mergeByKeyInternals(source, subscriber, keyOf, project, pool.concurrency, pool.maxQueued, pool.gauges),
    );
  };
}

const DEFAULT_MAX_QUEUED = 10_000;

/**
 * The pool's queue bound. A source that never hands out more than `maxInFlight` records can have nearly
 * all of them waiting (in key order, behind one busy key), so by default the bound covers that; an
 * explicit bound below it would fail the stream at the first burst, so it fails now instead.
 */
function queueBound(source: Partial<InFlightLimitedSource>, maxQueued: number | undefined): number {
  const maxInFlight = source.limits?.maxInFlight;
  if (typeof maxInFlight !== 'number') return maxQueued ?? DEFAULT_MAX_QUEUED;
  if (maxQueued === undefined) return Math.max(DEFAULT_MAX_QUEUED, maxInFlight);
  if (maxQueued >= maxInFlight) return maxQueued;
  throw new ConfigError(
    'maxQueued',
    `at least the source's maxInFlight (${String(maxInFlight)}), since that many records can wait for a ` +
      `worker or their key; raise maxQueued, or lower the source's maxInFlight`,
    maxQueued,
  );
}

/** A source that bounds the records it keeps in flight, as `fromKafka` does. */
export interface InFlightLimitedSource {
  readonly limits: { readonly maxInFlight: number };
  /** Told, when runChain is applied to the source directly, how its pool orders records and how busy it is. */
  chainAttached?(chain: AttachedChain): void;
}

/** What runChain tells a source it is applied to directly. */
export interface AttachedChain {
  readonly concurrency: number;
  readonly ordering: Ordering;
  /** The pool's live gauges: workers running, records waiting for a worker or for their key. */
  readonly gauges: PoolGauges;
}

/**
 * A pool wider than the source's in-flight limit can never fill: the extra workers idle while the
 * source waits at its limit. Checked when runChain is applied directly to such a source.
 */
function checkPoolFitsSource(source: Partial<InFlightLimitedSource>, concurrency: number): void {
  const maxInFlight = source.limits?.maxInFlight;
  if (typeof maxInFlight !== 'number' || concurrency <= maxInFlight) return;
  throw new ConfigError(
    'concurrency',
    `at most the source's maxInFlight (${String(maxInFlight)}), since no more records than that are ever ` +
      `in flight; raise the source's maxInFlight to at least ${String(concurrency)}`,
    concurrency,
  );
}

function isInvalidOutcome(input: unknown): input is InvalidOutcome {
  return (input as Partial<InvalidOutcome> | null)?.kind === 'invalid';
}

/**
 * The key under which records must not overlap; `undefined` when any order will do. Invalid records
 * take the key of their source record too, so they never overtake an earlier outcome of their key.
 */
function orderingKey(ordering: Ordering): (input: ChainInput<unknown, unknown>) => string | undefined {
  switch (ordering) {
    case 'unordered':
      return () => undefined;
    case 'partition':
      return (input) => {
        const source = sourceOf(input);
        return source === undefined ? undefined : `${source.topic}\u0000${String(source.partition)}`;
      };
    case 'key':
      // Records without a key carry no order to keep (Kafka spreads them over partitions).
      // Equal keys from different topics share a lane: stricter than needed, never wrong, and it
      // spares building a compound string per record. latin1 maps each byte to one char, so
      // distinct binary keys never collide.
      return (input) => {
        const key = sourceOf(input)?.key;
        return Buffer.isBuffer(key) ? key.toString('latin1') : undefined;
      };
  }
}

/** The source record of an input, or `undefined` for an input runChain will reject. */
function sourceOf(input: ChainInput<unknown, unknown>): SourceRecord | undefined {
  if (isRecordContext(input)) return input.source;
  if (isInvalidOutcome(input)) {
    const source = (input as Partial<InvalidOutcome>).source;
    // A hand-made invalid outcome may lack a usable source: it then passes unordered.
    return typeof source === 'object' ? source : undefined;
  }
  return undefined;
}
