import { Subscription, type OperatorFunction } from 'rxjs';
import { z } from 'zod';
import type { ChainInput, Outcome, OutcomeKind } from '@rxkafka/core';
import { fn, parseOptions } from '@rxkafka/core/options';
import { loggerOption } from './client-options.js';
import { MissingSinkError } from './errors.js';
import type { KafkaSource } from './from-kafka.js';
import { defaultLogger, type Logger } from './logger.js';

export interface RunServiceOptions<R = unknown, S = unknown> {
  /** Aborting it shuts the service down gracefully. */
  readonly signal?: AbortSignal;
  /** Handle SIGINT and SIGTERM: the first drains and stops, a second forces exit. Default true. */
  readonly handleSignals?: boolean;
  readonly logger?: Logger;
  /** Called with every outcome the pipeline emits (settled: acknowledged, or released when aborted). */
  readonly onOutcome?: (outcome: Outcome<R, S>) => void;
}

const optionsSchema = z.strictObject({
  signal: z.instanceof(AbortSignal, { error: 'an AbortSignal' }).optional(),
  handleSignals: z.boolean({ error: 'true or false' }).optional(),
  logger: loggerOption,
  onOutcome: fn('an outcome callback').optional(),
});

export type OutcomeCounts = Record<OutcomeKind, number>;

/** Zero for every outcome kind. */
export function emptyOutcomeCounts(): OutcomeCounts {
  return { ok: 0, break: 0, failed: 0, timeout: 0, aborted: 0, invalid: 0 };
}

/**
 * Runs a service: the source through the pipeline, until the source stops or the pipeline fails.
 *
 * Shutdown, on a signal or `options.signal`: stop consuming; let in-flight records finish
 * (up to the source's `drainTimeout`), then abort the rest; their defers run; every acknowledged
 * record's outputs were already delivered (toKafka acknowledges only once they are delivered);
 * the final commit; the producer flushes and disconnects; the consumer leaves the group and disconnects.
 *
 * The pipeline must end with a sink that acknowledges each record (`toKafka` or `acknowledge`): an
 * outcome that arrives unacknowledged fails the service at once with a `MissingSinkError`, instead of
 * letting the source fill up and wait forever.
 *
 * @return Outcome counts. Rejects with the pipeline's error after the consumer has closed.
 */
export async function runService<R, S>(
  source: KafkaSource<R, S>,
  pipeline: OperatorFunction<ChainInput<R, S>, Outcome<R, S>>,
  options: RunServiceOptions<R, S> = {},
): Promise<OutcomeCounts> {
  parseOptions(optionsSchema, options);
  // Built before anything is set up: a pipeline that throws (a ConfigError) rejects at once.
  const outcomes = source.pipe(pipeline);
  const logger = options.logger ?? defaultLogger();
  const counts = emptyOutcomeCounts();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals === 1) {
      logger.info({ signal }, 'shutting down: draining in-flight records (send it again to force exit)');
      void source.stop();
    } else {
      logger.warn({ signal }, 'second signal: exiting without draining; uncommitted records will be redelivered');
      process.exit(130);
    }
  };
  const stop = (): void => void source.stop();
  if (options.handleSignals !== false) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  options.signal?.addEventListener('abort', stop, { once: true });
  // Already aborted: the source stops before it starts, and the service ends at once.
  if (options.signal?.aborted === true) stop();
  try {
    await new Promise<void>((resolve, reject) => {
      let received = 0;
      // Created first: the pipeline may emit before subscribe() returns.
      const subscription = new Subscription();
      subscription.add(
        outcomes.subscribe({
          next: (outcome) => {
            // Sinks settle a record before they emit its outcome, so what arrived never exceeds what settled.
            const settled = source.stats.consumed - source.stats.inFlight;
            if (++received > settled) {
              const { topic, partition, offset } = outcome.source;
              reject(new MissingSinkError(`${topic}[${String(partition)}]@${String(offset)}`));
              subscription.unsubscribe();
              return;
            }
            counts[outcome.kind]++;
            options.onOutcome?.(outcome);
          },
          error: reject,
          complete: resolve,
        }),
      );
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    options.signal?.removeEventListener('abort', stop);
    await source.closed;
  }
  return counts;
}
