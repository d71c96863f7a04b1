import type { Context, SourceRecord } from './context.js';
import type { AbortedError, DeadlineExceededError, DeferError, HandlerError, InvalidRecordError } from './errors.js';

interface OutcomeBase {
  readonly source: SourceRecord;
  /** 1-based attempt that produced this outcome. */
  readonly attempt: number;
  /** Wall time from the first attempt's start to the last defer settling, in scheduler milliseconds. */
  readonly durationMs: number;
  /** Defers that failed or overran. They never change the outcome's kind. */
  readonly deferErrors: readonly DeferError[];
  /** Marks the record fully handled so its offset may be committed. Sinks call this, handlers never do. */
  readonly ack: () => void;
  /** Releases a record that was not finished (aborted) without committing it; it will be redelivered. */
  readonly nack: () => void;
}

/** Every handler ran; `context.outputs` are ready to produce. */
export interface OkOutcome<R, S> extends OutcomeBase {
  readonly kind: 'ok';
  readonly context: Context<R, S>;
}

/** A handler asked to stop. The record is done, with no output. */
export interface BreakOutcome<R, S> extends OutcomeBase {
  readonly kind: 'break';
  readonly context: Context<R, S>;
  readonly handler: string;
}

/** A handler failed on its last attempt. The record goes to the dead-letter topic. */
export interface FailedOutcome<R, S> extends OutcomeBase {
  readonly kind: 'failed';
  readonly context: Context<R, S>;
  readonly handler: string;
  readonly error: HandlerError;
}

/** The deadline passed on the last attempt. The record goes to the dead-letter topic. */
export interface TimeoutOutcome<R, S> extends OutcomeBase {
  readonly kind: 'timeout';
  readonly context: Context<R, S>;
  readonly handler: string;
  readonly error: DeadlineExceededError;
}

/** Cancelled by shutdown or revoke: never acknowledged, so the record is consumed again. */
export interface AbortedOutcome<R, S> extends OutcomeBase {
  readonly kind: 'aborted';
  readonly context: Context<R, S>;
  readonly handler: string;
  readonly error: AbortedError;
}

/** The record could not be decoded or failed its schema; no handler ran. */
export interface InvalidOutcome extends OutcomeBase {
  readonly kind: 'invalid';
  readonly error: InvalidRecordError;
}

export type Outcome<R, S> =
  | OkOutcome<R, S>
  | BreakOutcome<R, S>
  | FailedOutcome<R, S>
  | TimeoutOutcome<R, S>
  | AbortedOutcome<R, S>
  | InvalidOutcome;

export type OutcomeKind = Outcome<unknown, unknown>['kind'];

/** Outcomes that belong on the dead-letter topic. */
export type DeadLetterOutcome<R, S> = FailedOutcome<R, S> | TimeoutOutcome<R, S> | InvalidOutcome;

export function isDeadLetter<R, S>(outcome: Outcome<R, S>): outcome is DeadLetterOutcome<R, S> {
  return outcome.kind === 'failed' || outcome.kind === 'timeout' || outcome.kind === 'invalid';
}

/** The outcome for a record that never became a context. */
export function invalidOutcome(
  source: SourceRecord,
  error: InvalidRecordError,
  ack: () => void = noop,
  nack: () => void = noop,
): InvalidOutcome {
  return { kind: 'invalid', source, error, attempt: 1, durationMs: 0, deferErrors: [], ack, nack };
}

function noop(): void {
  /* in-memory sources need no acknowledgement */
}
