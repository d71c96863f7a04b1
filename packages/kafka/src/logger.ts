import { pino } from 'pino';

/** The subset of pino's API rxkafka logs through; pass your own pino (or compatible) logger. */
export interface Logger {
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

/** JSON lines on stderr, so stdout stays free for the service's own output. */
export function defaultLogger(): Logger {
  return pino({ name: 'rxkafka', level: process.env['RXKAFKA_LOG_LEVEL'] ?? 'info' }, pino.destination(2));
}
