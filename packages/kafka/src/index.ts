export { acknowledge, type AcknowledgeOptions } from './acknowledge.js';
export { DLQ_HEADERS, deadLetterRecord, type DeadLetterRecord } from './dead-letter.js';
export { decodeRecord, jsonDecoder, type Decoded, type Decoder } from './decode.js';
export { DeadLetterLog, type DeadLetterLogOptions } from './dead-letter-log.js';
export {
  CHANNELS,
  PRODUCE_CHANNEL,
  type CommittedMessage,
  type ConsumedMessage,
  type ProduceTrace,
  type SettledMessage,
  type StatisticsMessage,
} from './diagnostics.js';
export {
  AuthenticationError,
  AuthorizationError,
  CloseTimeoutError,
  DeliveryError,
  KafkaError,
  LifecycleError,
  MissingSinkError,
  PartitionRevokedError,
  ShutdownError,
} from './errors.js';
export {
  fromKafka,
  KafkaSource,
  SourceStats,
  type FromKafkaOptions,
  type HeadOfLine,
  type PartitionStatus,
  type SourceLimits,
  type SourceState,
} from './from-kafka.js';
export type { LibrdkafkaConfig } from './librdkafka-config.js';
export { defaultLogger, type Logger } from './logger.js';
export { emptyOutcomeCounts, runService, type OutcomeCounts, type RunServiceOptions } from './run-service.js';
export { serializeJson, toKafka, type ToKafkaOptions } from './to-kafka.js';
