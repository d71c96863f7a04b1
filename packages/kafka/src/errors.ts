import { RxKafkaError } from '@rxkafka/core';

/**
 * Any error from librdkafka, converted at the boundary. `code` is librdkafka's symbolic
 * name (e.g. `ERR__QUEUE_FULL`), `errno` its number.
 */
export class KafkaError extends RxKafkaError {
  constructor(
    message: string,
    readonly code: string,
    readonly errno: number,
    /** Trying the same call again may succeed. */
    readonly retriable: boolean,
    /** The client is unusable and must be recreated. */
    readonly fatal: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A produce failed after librdkafka's own retries. The record was not acknowledged. */
export class DeliveryError extends KafkaError {}

/** A call arrived in the wrong lifecycle state, e.g. a second `connect`. */
export class LifecycleError extends RxKafkaError {
  readonly code = 'ERR_LIFECYCLE';

  constructor(
    readonly operation: string,
    readonly state: string,
  ) {
    super(`Cannot ${operation} while ${state}`);
  }
}
