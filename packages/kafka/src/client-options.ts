/**
 * Option schemas that fromKafka and toKafka share, so both name, check and explain them alike.
 */
import { z } from 'zod';
import type { Logger } from './logger.js';

/** `bootstrap.servers`. */
export const brokersOption = z
  .string({ error: 'bootstrap servers as host:port[,host:port]' })
  .min(1, { error: 'bootstrap servers as host:port[,host:port]' });

/**
 * Extra librdkafka properties, checked by `checkLibrdkafkaConfig`: a ConfigError from here would show
 * what it holds, secrets included. Only null is refused here, since callers take it for "none".
 */
export const rdkafkaOption = z
  .custom<unknown>((value) => value !== null, { error: 'librdkafka properties (an object of key: value)' })
  .optional();

/** A pino (or compatible) logger: rxkafka logs at info, warn and error (debug if it has one). */
export const loggerOption = z
  .custom<Logger>(
    (v) => {
      const logger = v as Partial<Logger> | null;
      return (
        typeof logger?.info === 'function' && typeof logger.warn === 'function' && typeof logger.error === 'function'
      );
    },
    { error: 'a pino-compatible logger (with info, warn and error)' },
  )
  .optional();

/** `DeadLetterLogOptions`: the level and sampling of the line logged per dead-lettered record. */
export const deadLetterLogOption = z
  .strictObject({
    level: z.enum(['error', 'warn', 'info'], { error: "'error', 'warn' or 'info'" }).optional(),
    // z.number() rejects Infinity, the default (every record).
    maxPerSecond: z
      .custom<number>((n) => typeof n === 'number' && n >= 1, {
        error: 'lines per second (a number >= 1, or Infinity)',
      })
      .optional(),
  })
  .optional();

/**
 * librdkafka's `reconnect.backoff.max.ms` for rxkafka's clients, unless set in `rdkafka`: the Java
 * client's default. librdkafka's own, 10 s, left a client reconnecting up to 10 s after its broker was
 * back from a restart (docs/decisions.md 67).
 */
export const RECONNECT_BACKOFF_MAX_MS = 1000;
