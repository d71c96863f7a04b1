import { isObservable, type Observable } from 'rxjs';

/** One Kafka header. Kafka allows repeated keys, so headers are a list. */
export interface RecordHeader {
  readonly key: string;
  readonly value: Buffer;
}

/** Where a record came from, with its raw bytes (kept for the dead-letter topic). */
export interface SourceRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: readonly RecordHeader[];
  /** Milliseconds since the epoch, as stamped by the producer or broker. */
  readonly timestamp: number;
}

/** A record a handler asks the sink to produce. */
export interface OutputRecord {
  readonly topic: string;
  readonly key?: string | Buffer | null;
  /** Serialised as JSON unless it is a `Buffer` or a `string`. `null` is a tombstone. */
  readonly value: unknown;
  readonly headers?: Readonly<Record<string, string | Buffer>>;
  readonly partition?: number;
}

/** How an attempt ended, as seen by its defers. */
export type AttemptEnd = 'ok' | 'break' | 'failed' | 'timeout' | 'aborted';

/**
 * Cleanup registered with `ctx.defer`. It may return a Promise or an Observable;
 * either is awaited (bounded by `deferTimeout`) before the record's outcome is emitted.
 */
export type DeferFn = (end: AttemptEnd) => void | PromiseLike<unknown> | Observable<unknown>;

/**
 * Everything one record's chain sees: the Go original's `BaseContext`.
 * A fresh context is made for every attempt; `state` is shared by the attempts of one record.
 */
export interface Context<R, S = Record<string, unknown>> {
  /** The decoded, schema-validated record. */
  readonly record: R;
  readonly source: SourceRecord;
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** The record key decoded as UTF-8, or `null`. */
  readonly key: string | null;
  /** Headers decoded as UTF-8; the last value wins for repeated keys (see `source.headers`). */
  readonly headers: Readonly<Record<string, string>>;
  readonly timestamp: number;
  /** Aborts on the record's deadline, on shutdown and on partition revoke. */
  readonly signal: AbortSignal;
  /** Per-record values that handlers share. */
  readonly state: S;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** Epoch milliseconds (scheduler time) after which the attempt times out; `Infinity` if none. */
  readonly deadline: number;
  /** Outputs queued by `emit` during this attempt. */
  readonly outputs: readonly OutputRecord[];
  /** Queues an output record; the sink produces it after the chain succeeds. */
  emit(output: OutputRecord): void;
  /**
   * Registers cleanup that always runs, in reverse order of registration, when the attempt ends.
   * Registered while defers run (or while a timed-out handler is still settling), it runs with them
   * and the outcome waits for it; registered after the outcome, it runs at once.
   */
  defer(fn: DeferFn): void;
}

/**
 * The `state` option of a source (`fromKafka`, `fromMemory`, …): a factory of each record's state.
 * Optional when every field of `S` is optional (the default is `{}`); required as soon as `S` has a
 * required field, so `{} as S` is never passed off as a valid state.
 */
// `Record<string, never>` stands for `{}`: it fits `Record<string, unknown>` and all-optional types, not a required field.
export type StateFactoryOption<S> =
  Record<string, never> extends S ? { readonly state?: () => S } : { readonly state: () => S };

/** What it takes to make a context. `signal` is the record's outer cancellation: shutdown or revoke. */
export interface ContextInit<R, S> {
  readonly record: R;
  readonly source: SourceRecord;
  readonly state: S;
  readonly signal?: AbortSignal;
  /** Called by the sink once the record is fully handled, so its offset may be committed. */
  readonly ack?: () => void;
  /** Called by the sink for a record that was not finished (aborted): it stays uncommitted. */
  readonly nack?: () => void;
}

const noop = (): void => undefined;
const NO_OUTPUTS: readonly OutputRecord[] = Object.freeze([]);

/**
 * Runs a defer registered after its attempt's defers ran (e.g. by a handler that ignored the signal
 * and acquired a resource after the deadline). Its outcome is already out, so nothing waits for it
 * and its errors have nowhere to go; they are swallowed rather than left unhandled.
 */
function runLateDefer(fn: DeferFn, end: AttemptEnd): void {
  try {
    const result = fn(end);
    if (isObservable(result)) result.subscribe({ error: noop });
    else if (result !== undefined && typeof (result as Partial<PromiseLike<unknown>>).then === 'function') {
      result.then(noop, noop);
    }
  } catch {
    // Nowhere to report it: the record's outcome has been emitted.
  }
}

/** Brands contexts across copies of this package (`instanceof` fails when two copies are loaded). */
const CONTEXT_BRAND = Symbol.for('rxkafka.context');

export function isRecordContext(value: unknown): value is RecordContext<unknown, unknown> {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[CONTEXT_BRAND] === true;
}

/** The concrete context. Internal fields are reachable only inside `@rxkafka/core`. */
export class RecordContext<R, S> implements Context<R, S> {
  readonly [CONTEXT_BRAND] = true;
  // Both made on first use: most records register no defer, and most emit one output.
  #outputs: OutputRecord[] | undefined;
  #defers: DeferFn[] | undefined;
  /** Created on first read of `signal`: most records never look at it. */
  #controller: AbortController | undefined;
  /** Set when the attempt is aborted before anyone read `signal`. */
  #abortReason: unknown;
  #aborted = false;
  #key: string | null | undefined;
  #headers: Readonly<Record<string, string>> | undefined;
  /** Set once this attempt's defers have all run: a defer registered later runs at once. */
  #deferredEnd: AttemptEnd | undefined;

  constructor(
    readonly record: R,
    readonly source: SourceRecord,
    readonly state: S,
    /** Outer cancellation (shutdown, revoke), shared by all attempts. */
    readonly outerSignal: AbortSignal | undefined,
    readonly ack: () => void,
    readonly nack: () => void,
    readonly attempt: number,
    /** Set by runChain when the attempt starts; mutable to spare an allocation per record. */
    public deadline: number,
  ) {}

  get topic(): string {
    return this.source.topic;
  }
  get partition(): number {
    return this.source.partition;
  }
  get offset(): number {
    return this.source.offset;
  }
  get timestamp(): number {
    return this.source.timestamp;
  }
  get key(): string | null {
    return (this.#key ??= this.source.key === null ? null : this.source.key.toString('utf8'));
  }
  get headers(): Readonly<Record<string, string>> {
    if (this.#headers === undefined) {
      const decoded: Record<string, string> = {};
      for (const header of this.source.headers) decoded[header.key] = header.value.toString('utf8');
      this.#headers = decoded;
    }
    return this.#headers;
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#abortReason);
    }
    return this.#controller.signal;
  }

  get outputs(): readonly OutputRecord[] {
    return this.#outputs ?? NO_OUTPUTS;
  }

  /** Cleanups in registration order; run in reverse. */
  get defers(): DeferFn[] {
    return (this.#defers ??= []);
  }

  /** Whether any defer is registered, without making the list. */
  get hasDefers(): boolean {
    return this.#defers !== undefined && this.#defers.length > 0;
  }

  emit(output: OutputRecord): void {
    if (this.#outputs === undefined) this.#outputs = [output];
    else this.#outputs.push(output);
  }

  defer(fn: DeferFn): void {
    if (typeof fn !== 'function') throw new TypeError('ctx.defer: expected a function');
    if (this.#deferredEnd === undefined) this.defers.push(fn);
    else runLateDefer(fn, this.#deferredEnd);
  }

  /** Called once the attempt's defers have run: later registrations run at once, with `end`. */
  closeDefers(end: AttemptEnd): void {
    this.#deferredEnd = end;
  }

  /** Aborts this attempt's signal once; later calls are ignored. */
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#abortReason = reason;
    this.#controller?.abort(reason);
  }

  /** A fresh context for the next attempt of the same record: same state, new outputs and defers. */
  nextAttempt(deadline: number): RecordContext<R, S> {
    return new RecordContext(
      this.record,
      this.source,
      this.state,
      this.outerSignal,
      this.ack,
      this.nack,
      this.attempt + 1,
      deadline,
    );
  }
}

/** Makes the first-attempt context of a record. */
export function createContext<R, S>(init: ContextInit<R, S>): Context<R, S> {
  return new RecordContext(
    init.record,
    init.source,
    init.state,
    init.signal,
    init.ack ?? noop,
    init.nack ?? noop,
    1,
    Number.POSITIVE_INFINITY,
  );
}
