import { isDeadLetter, type Outcome } from '@rxkafka/core';
import { parseOptions } from '@rxkafka/core/options';
import { map, type MonoTypeOperatorFunction } from 'rxjs';
import { z } from 'zod';
import { deadLetterLogOption, loggerOption } from './client-options.js';
import { DeadLetterLog, type DeadLetterLogOptions } from './dead-letter-log.js';
import { defaultLogger, type Logger } from './logger.js';

export interface AcknowledgeOptions {
  /** Where failed, timed-out and invalid records are logged. Default: pino on stderr. */
  readonly logger?: Logger;
  readonly deadLetterLog?: DeadLetterLogOptions;
}

const optionsSchema = z.strictObject({
  logger: loggerOption,
  deadLetterLog: deadLetterLogOption,
});

/**
 * The sink of a consume-only pipeline: it produces nothing, logs failed, timed-out and invalid records
 * (one line each), and acknowledges every record so its offset may be committed. Aborted records are
 * released uncommitted, to be consumed again. Pipelines that write to Kafka end with `toKafka` instead.
 *
 * @example
 * ```ts
 * await runService(source, (records) => records.pipe(runChain([audit]), acknowledge()));
 * ```
 */
export function acknowledge<R, S>(options: AcknowledgeOptions = {}): MonoTypeOperatorFunction<Outcome<R, S>> {
  const parsed = parseOptions(optionsSchema, options);
  const log = new DeadLetterLog(parsed.logger ?? defaultLogger(), options.deadLetterLog);
  return map((outcome) => {
    if (outcome.kind === 'aborted') {
      outcome.nack();
      return outcome;
    }
    if (isDeadLetter(outcome)) log.write(outcome, false);
    outcome.ack();
    return outcome;
  });
}
