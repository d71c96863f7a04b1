import { pino } from 'pino';

/** The subset of pino's API rxkafka logs through; pass your own pino (or compatible) logger. */
export interface Logger {
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
  /** Optional: details such as stacks go here. */
  debug?(object: object, message: string): void;
}

let shared: Logger | undefined;

/**
 * The process's one rxkafka logger: JSON lines on stderr, so stdout stays free for the service's own
 * output. `RXKAFKA_LOG_LEVEL` sets its level (default `info`).
 */
export function defaultLogger(): Logger {
  shared ??= pino({ name: 'rxkafka', level: process.env['RXKAFKA_LOG_LEVEL'] ?? 'info' }, pino.destination(2));
  return shared;
}
