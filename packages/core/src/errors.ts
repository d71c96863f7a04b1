/**
 * The typed error family of `@rxkafka/core`. Every error carries a stable `code`
 * so that logs, dead-letter headers and tests can match on it instead of on text.
 */
export abstract class RxKafkaError extends Error {
  abstract readonly code: string;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Invalid configuration, thrown when an operator or client is created, never later. */
export class ConfigError extends RxKafkaError {
  readonly code = 'ERR_CONFIG';

  constructor(
    /** Dotted path of the offending option, e.g. `retry.maxAttempts`. */
    readonly field: string,
    /** What the option must be, in words. */
    readonly expected: string,
    /** The value that was given. */
    readonly received: unknown,
  ) {
    super(`Invalid option \`${field}\`: expected ${expected}, received ${describe(received)}`);
  }
}

/** A handler threw, rejected or errored. `cause` holds the original (normalised) error. */
export class HandlerError extends RxKafkaError {
  readonly code = 'ERR_HANDLER';

  constructor(
    readonly handler: string,
    cause: Error,
  ) {
    super(`Handler "${handler}" failed: ${cause.message}`, { cause });
  }

  override get cause(): Error {
    return super.cause as Error;
  }
}

/** The record's deadline passed before its chain finished. */
export class DeadlineExceededError extends RxKafkaError {
  readonly code = 'ERR_DEADLINE_EXCEEDED';

  constructor(
    readonly handler: string,
    readonly timeoutMs: number,
  ) {
    super(`Record deadline of ${String(timeoutMs)} ms exceeded in handler "${handler}"`);
  }
}

/** The record was cancelled from outside: shutdown, partition revoke or unsubscription. */
export class AbortedError extends RxKafkaError {
  readonly code = 'ERR_ABORTED';

  constructor(reason: unknown) {
    super(`Record processing aborted: ${toError(reason).message}`, { cause: reason });
  }
}

/** A defer handler failed or overran its time bound. The other defers still ran. */
export class DeferError extends RxKafkaError {
  readonly code = 'ERR_DEFER';

  constructor(
    /** Position of the defer in registration order (0 = registered first). */
    readonly index: number,
    cause: Error,
  ) {
    super(`Defer #${String(index)} failed: ${cause.message}`, { cause });
  }
}

/** A record could not be decoded or failed its schema. It is dead-lettered, never thrown. */
export class InvalidRecordError extends RxKafkaError {
  readonly code = 'ERR_INVALID_RECORD';

  constructor(
    readonly reason: 'undecodable' | 'schema',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * More records are waiting than `maxQueued` allows. RxJS cannot push back on a
 * push source, so the bound is enforced loudly instead of growing memory silently.
 */
export class QueueOverflowError extends RxKafkaError {
  readonly code = 'ERR_QUEUE_OVERFLOW';

  constructor(readonly maxQueued: number) {
    super(
      `More than ${String(maxQueued)} records are waiting for a worker; bound the source's in-flight records (fromKafka does) or raise maxQueued`,
    );
  }
}

/** Turns any thrown value into an `Error`, keeping the original as `cause`. */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new NonErrorThrown(value);
}

/** Stands in for a thrown value that was not an `Error` (a string, `undefined`, ...). */
export class NonErrorThrown extends RxKafkaError {
  readonly code = 'ERR_NON_ERROR_THROWN';

  constructor(readonly value: unknown) {
    super(`Non-Error value thrown: ${describe(value)}`, { cause: value });
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'bigint') return `${value.toString()}n`;
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  try {
    // JSON.stringify returns undefined for undefined and symbols, despite its declared type.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
