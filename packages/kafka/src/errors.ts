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

/** The broker refused the credentials (SASL or SSL). Never retried: the configuration must change. */
export class AuthenticationError extends KafkaError {}

/** The broker's ACLs deny an operation on a topic, group or cluster. Never retried: an ACL must change. */
export class AuthorizationError extends KafkaError {}

/** `createTopics` was asked to create a topic that already exists. */
export class TopicExistsError extends KafkaError {}

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

/**
 * An outcome reached the end of a service's pipeline without being acknowledged: the pipeline has no
 * sink. Left alone, the source would fill up to `maxInFlight` and wait forever.
 */
export class MissingSinkError extends RxKafkaError {
  readonly code = 'ERR_MISSING_SINK';

  constructor(readonly where: string) {
    super(
      `The pipeline emitted the outcome of ${where} without acknowledging it: end it with toKafka(...) to produce ` +
        'outputs, or acknowledge() for a consume-only pipeline (nothing is committed until a sink acknowledges)',
    );
  }
}

/** The reason a record's signal aborts when its partition is revoked. */
export class PartitionRevokedError extends RxKafkaError {
  readonly code = 'ERR_PARTITION_REVOKED';
  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {
    super(`Partition ${topic}[${String(partition)}] was revoked`);
  }
}

/** The reason a record's signal aborts when the source stops before the record finished. */
export class ShutdownError extends RxKafkaError {
  readonly code = 'ERR_SHUTDOWN';
  constructor() {
    super('The consumer is shutting down');
  }
}

/**
 * A client did not close within its bound (`connectTimeout`). It is given up on so that the service can
 * exit; a consumer's group drops the member after `session.timeout.ms`.
 */
export class CloseTimeoutError extends RxKafkaError {
  readonly code = 'ERR_CLOSE_TIMEOUT';
  constructor(
    readonly client: 'consumer' | 'producer',
    readonly timeoutMs: number,
  ) {
    super(`The ${client} did not close within ${String(timeoutMs)} ms; giving up on it`);
  }
}
