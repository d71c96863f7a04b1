import type { DeadLetterOutcome } from '@rxkafka/core';
import type { Logger } from './logger.js';

export interface DeadLetterLogOptions {
  /** The level of the one line logged per dead-lettered record. Default `'error'`. */
  readonly level?: 'error' | 'warn' | 'info';
  /**
   * At most this many lines per second; the others are counted, and one line per second says how many
   * were left out. Default `Infinity` (every record).
   */
  readonly maxPerSecond?: number;
}

/**
 * One clear log line per dead-lettered record: reason, handler, coordinates and the error's message.
 * The stack goes on a second line at debug level, for loggers that have one.
 */
export class DeadLetterLog {
  readonly #logger: Logger;
  readonly #level: 'error' | 'warn' | 'info';
  readonly #maxPerSecond: number;
  // Start of the current one-second sampling window, and lines written and left out in it.
  #windowStart = 0;
  #written = 0;
  #skipped = 0;

  constructor(logger: Logger, options: DeadLetterLogOptions = {}) {
    this.#logger = logger;
    this.#level = options.level ?? 'error';
    this.#maxPerSecond = options.maxPerSecond ?? Number.POSITIVE_INFINITY;
  }

  /** `destination` is the dead-letter topic, or `false` when failed records are only logged. */
  write<R, S>(outcome: DeadLetterOutcome<R, S>, destination: string | false): void {
    if (!this.admit()) return;
    const { source, error } = outcome;
    const handler = outcome.kind === 'invalid' ? `decode:${outcome.error.reason}` : outcome.handler;
    const where = `${source.topic}[${String(source.partition)}]@${String(source.offset)}`;
    const fields = {
      reason: outcome.kind,
      handler,
      topic: source.topic,
      partition: source.partition,
      offset: source.offset,
      key: source.key?.toString('utf8') ?? null,
      attempt: outcome.attempt,
      code: error.code,
      deadLetterTopic: destination,
    };
    // A handler's error already names the handler: the line shows its cause. An invalid record's own
    // message is the clear one; its cause (a ZodError) is a JSON dump.
    const message = outcome.kind === 'invalid' ? error.message : rootMessage(error);
    const stage = outcome.kind === 'invalid' ? 'decode' : handler;
    this.#logger[this.#level](fields, `${where} ${outcome.kind} in ${stage}: ${message}`);
    this.#logger.debug?.({ ...fields, stack: error.stack }, `${where} stack`);
  }

  private admit(): boolean {
    const now = performance.now();
    if (now - this.#windowStart >= 1000) {
      if (this.#skipped > 0) {
        this.#logger[this.#level](
          { skipped: this.#skipped, maxPerSecond: this.#maxPerSecond },
          `${String(this.#skipped)} more records dead-lettered in the last second (log lines sampled)`,
        );
      }
      this.#windowStart = now;
      this.#written = 0;
      this.#skipped = 0;
    }
    if (this.#written < this.#maxPerSecond) {
      this.#written++;
      return true;
    }
    this.#skipped++;
    return false;
  }
}

function rootMessage(error: Error): string {
  let current = error;
  while (current.cause instanceof Error) current = current.cause;
  return current.message;
}
