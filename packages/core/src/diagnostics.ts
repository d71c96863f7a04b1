/**
 * Per-record and per-handler events on `node:diagnostics_channel`, as two `TracingChannel`s, for
 * metrics and tracing tools (`@rxkafka/observe` subscribes to them). Nothing is built or published
 * while nobody subscribes: runChain checks `hasSubscribers` once per record.
 *
 * Each traced operation publishes `start` when it begins, `error` if it ends with an error, and
 * `asyncEnd` when it is over (always, also for synchronous handlers). `end` and `asyncStart` are not
 * used. Every event of one operation carries the same message object, so a subscriber can keep its
 * own data (a span, a start time) beside it, e.g. in a WeakMap.
 *
 * @example
 * ```ts
 * import diagnosticsChannel from 'node:diagnostics_channel';
 * import { HANDLER_CHANNEL, type HandlerTrace } from '@rxkafka/core';
 *
 * const started = new WeakMap<HandlerTrace, number>();
 * diagnosticsChannel.tracingChannel<HandlerTrace>(HANDLER_CHANNEL).subscribe({
 *   start: (message) => started.set(message, performance.now()),
 *   end: () => undefined,
 *   asyncStart: () => undefined,
 *   asyncEnd: (message) => console.log(message.handler, performance.now() - (started.get(message) ?? 0)),
 *   error: () => undefined,
 * });
 * ```
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { AttemptEnd, Context } from './context.js';
import type { Outcome } from './outcome.js';

/** One record's run through a chain, from the start of its first attempt to its outcome. */
export const RECORD_CHANNEL = 'rxkafka:record';
/** One handler's run for one attempt of one record. */
export const HANDLER_CHANNEL = 'rxkafka:handler';

/** The message of every event of one record's run. */
export interface RecordTrace {
  /** The first attempt's context. */
  readonly context: Context<unknown, unknown>;
  /** The chain's handler names, in order. */
  readonly handlers: readonly string[];
  /** Set before `asyncEnd`; undefined when the pool was torn down before the record finished. */
  outcome?: Outcome<unknown, unknown>;
  /** Set before `error`: the outcome's error (`failed`, `timeout`, `aborted`). */
  error?: unknown;
}

/** The message of every event of one handler's run. */
export interface HandlerTrace {
  /** The attempt's context. */
  readonly context: Context<unknown, unknown>;
  readonly handler: string;
  /** Position in the chain, from 0. */
  readonly index: number;
  /** The record's run this handler belongs to, if record tracing was on when the record started. */
  readonly record: RecordTrace | undefined;
  /** Set before `asyncEnd`: `continue` (the chain goes on, or the record is done), or how the attempt ended. */
  result?: 'continue' | Exclude<AttemptEnd, 'ok'>;
  /** Set before `error`. */
  error?: unknown;
}

/** @internal */
export const recordChannel = diagnosticsChannel.tracingChannel<object, RecordTrace>(RECORD_CHANNEL);
/** @internal */
export const handlerChannel = diagnosticsChannel.tracingChannel<object, HandlerTrace>(HANDLER_CHANNEL);

// The record trace of each record in flight, so its handlers (of any attempt) find their parent.
const recordTraces = new WeakMap<object, RecordTrace>();

/** @internal Publishes a record's start, if anyone listens; returns its trace message. */
export function recordStarted(
  context: Context<unknown, unknown>,
  handlers: readonly string[],
): RecordTrace | undefined {
  if (!recordChannel.hasSubscribers) return undefined;
  const trace: RecordTrace = { context, handlers };
  recordTraces.set(context.source, trace);
  recordChannel.start.publish(trace);
  return trace;
}

/** @internal Publishes a record's end with its outcome (and `error` first, for one with an error); returns the outcome. */
export function recordEnded<O extends Outcome<unknown, unknown>>(trace: RecordTrace | undefined, outcome: O): O {
  if (trace === undefined) return outcome;
  recordTraces.delete(trace.context.source);
  trace.outcome = outcome;
  if ('error' in outcome) {
    trace.error = outcome.error;
    recordChannel.error.publish(trace);
  }
  recordChannel.asyncEnd.publish(trace);
  return outcome;
}

/** @internal What an attempt keeps for handler events. */
export interface HandlerTracing {
  /** Whether handler events are published for this attempt (decided once, when it starts). */
  readonly traceHandlers: boolean;
  /** The handler running now. */
  handlerTrace: HandlerTrace | undefined;
}

/** @internal Publishes the start of handler `index` (and the end of the previous one, which continued). */
export function handlerStarted(
  tracing: HandlerTracing,
  context: Context<unknown, unknown>,
  index: number,
  handler: string,
): void {
  handlerEnded(tracing, 'ok', undefined);
  const trace: HandlerTrace = { context, handler, index, record: recordTraces.get(context.source) };
  tracing.handlerTrace = trace;
  handlerChannel.start.publish(trace);
}

/** @internal Publishes the end of the running handler, if any: how the attempt ended there. */
export function handlerEnded(tracing: HandlerTracing, end: AttemptEnd, error: unknown): void {
  const trace = tracing.handlerTrace;
  if (trace === undefined) return;
  tracing.handlerTrace = undefined;
  trace.result = end === 'ok' ? 'continue' : end;
  if (error !== undefined) {
    trace.error = error;
    handlerChannel.error.publish(trace);
  }
  handlerChannel.asyncEnd.publish(trace);
}
