/**
 * Option schemas that fromKafka and toKafka share, so both name, check and explain them alike.
 */
import { z } from 'zod';
import type { Logger } from './logger.js';

/** `bootstrap.servers`. */
export const brokersOption = z
  .string({ error: 'bootstrap servers as host:port[,host:port]' })
  .min(1, { error: 'bootstrap servers as host:port[,host:port]' });

/** Extra librdkafka properties; their names and values are checked by `checkLibrdkafkaConfig`. */
export const rdkafkaOption = z
  .record(z.string(), z.union([z.string(), z.number(), z.boolean()]), { error: 'librdkafka properties' })
  .optional();

/** A pino (or compatible) logger. */
export const loggerOption = z
  .custom<Logger>(
    (v) => {
      const logger = v as Partial<Logger> | null;
      return typeof logger?.warn === 'function' && typeof logger.error === 'function';
    },
    { error: 'a pino-compatible logger (with info, warn and error)' },
  )
  .optional();

/**
 * librdkafka's `reconnect.backoff.max.ms` for rxkafka's clients, unless set in `rdkafka`: the Java
 * client's default. librdkafka's own, 10 s, left a client reconnecting up to 10 s after its broker was
 * back from a restart (docs/decisions.md 67).
 */
export const RECONNECT_BACKOFF_MAX_MS = 1000;
