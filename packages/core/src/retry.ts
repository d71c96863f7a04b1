import { z } from 'zod';
import type { Context } from './context.js';
import type { DeadlineExceededError, HandlerError } from './errors.js';
import { durationMs, fn, MAX_TIMER_MS, positiveInt } from './options.js';

/** When and how often a failed or timed-out record is tried again. */
export interface RetryOptions<R = unknown, S = unknown> {
  /** Total attempts, the first included. 1 means no retry. */
  readonly maxAttempts: number;
  /** Delay before the second attempt. Default 100 ms. */
  readonly initialDelay?: number;
  /** Cap on any delay. Default 30 s; `Infinity` lets the delay grow up to the longest timer (2^31−1 ms). */
  readonly maxDelay?: number;
  /** Growth of the delay per attempt. Default 2. */
  readonly multiplier?: number;
  /** Fraction of the delay that is randomised away (0 = none, 1 = "full jitter"). Default 0.2. */
  readonly jitter?: number;
  /** Which failures deserve another attempt. Default: all of them. If it throws, the record fails with that error. */
  readonly retryable?: (error: HandlerError | DeadlineExceededError, ctx: Context<R, S>) => boolean;
  /** Random source in [0, 1) for the jitter; replace it to make tests deterministic. */
  readonly random?: () => number;
}

export const retrySchema = z.strictObject({
  maxAttempts: positiveInt('the total number of attempts'),
  initialDelay: durationMs('the first retry delay', { unlimited: false }).optional(),
  maxDelay: durationMs('the largest retry delay').optional(),
  multiplier: z.number({ error: 'a number >= 1' }).min(1, { error: 'a number >= 1' }).optional(),
  jitter: z
    .number({ error: 'a fraction between 0 and 1' })
    .min(0, { error: 'a fraction between 0 and 1' })
    .max(1, { error: 'a fraction between 0 and 1' })
    .optional(),
  retryable: fn('a retryable predicate').optional(),
  random: fn('a random source').optional(),
});

export interface RetryPolicy {
  readonly maxAttempts: number;
  /** Delay before attempt `attempt + 1`, given that `attempt` just failed. */
  delayAfter(attempt: number): number;
  retryable(error: HandlerError | DeadlineExceededError, ctx: Context<unknown, unknown>): boolean;
}

const retryAll = (): boolean => true;

export function retryPolicy(options: RetryOptions<never, never> | undefined): RetryPolicy {
  if (options === undefined) return { maxAttempts: 1, delayAfter: () => 0, retryable: retryAll };
  const initialDelay = options.initialDelay ?? 100;
  const maxDelay = options.maxDelay ?? 30_000;
  const multiplier = options.multiplier ?? 2;
  const jitter = options.jitter ?? 0.2;
  const random = options.random ?? Math.random;
  return {
    maxAttempts: options.maxAttempts,
    delayAfter(attempt) {
      const base = Math.min(maxDelay, MAX_TIMER_MS, initialDelay * multiplier ** (attempt - 1));
      return base * (1 - jitter * random());
    },
    retryable: (options.retryable as RetryPolicy['retryable'] | undefined) ?? retryAll,
  };
}
