import { pino, type Logger as PinoLogger, type LoggerOptions } from 'pino';
import type { Context } from '@rxkafka/core';

export interface CreateLoggerOptions {
  /** Default `RXKAFKA_LOG_LEVEL`, else `info`. */
  readonly level?: string;
  /** pino redaction paths, e.g. `['record.card.number', 'record.email']`, censored as `[redacted]`. */
  readonly redact?: readonly string[];
  /** Extra pino options. */
  readonly pino?: LoggerOptions;
}

/**
 * One pino logger for the service (JSON lines on stderr). Pass it to `fromKafka`, `toKafka`,
 * `runService` and `observe` so every line goes through one place, with one redaction policy.
 */
export function createLogger(options: CreateLoggerOptions = {}): PinoLogger {
  return pino(
    {
      name: 'rxkafka',
      level: options.level ?? process.env['RXKAFKA_LOG_LEVEL'] ?? 'info',
      ...(options.redact === undefined ? {} : { redact: { paths: [...options.redact], censor: '[redacted]' } }),
      ...options.pino,
    },
    pino.destination(2),
  );
}

export interface RecordLoggerOptions<R> {
  /** The handler the lines come from. */
  readonly handler?: string;
  /**
   * The redaction hook: what of the record to bind, as `record`. Default: the record is not bound
   * (only its coordinates). Return a copy without the sensitive fields, e.g. `({ card, ...rest }) => rest`.
   */
  readonly redact?: (record: R) => unknown;
}

/**
 * A child logger for one record: every line carries topic, partition, offset, key (and handler),
 * so the lines of one record can be found together.
 *
 * @example
 * ```ts
 * const enrich = handler<Order, State>('enrich', async (ctx) => {
 *   const log = recordLogger(logger, ctx, { handler: 'enrich', redact: ({ card: _card, ...rest }) => rest });
 *   log.info('enriching'); // {"topic":"orders","partition":0,"offset":41,"key":"c-7","handler":"enrich","record":{...},"msg":"enriching"}
 * });
 * ```
 */
export function recordLogger<R, S>(
  logger: PinoLogger,
  ctx: Context<R, S>,
  options: RecordLoggerOptions<R> = {},
): PinoLogger {
  const bindings: Record<string, unknown> = {
    topic: ctx.topic,
    partition: ctx.partition,
    offset: ctx.offset,
    key: ctx.key,
  };
  if (options.handler !== undefined) bindings['handler'] = options.handler;
  if (options.redact !== undefined) bindings['record'] = options.redact(ctx.record);
  return logger.child(bindings);
}
