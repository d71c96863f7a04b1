export {
  createContext,
  type AttemptEnd,
  type Context,
  type ContextInit,
  type DeferFn,
  type OutputRecord,
  type RecordHeader,
  type SourceRecord,
  type StateFactoryOption,
} from './context.js';
export { HANDLER_CHANNEL, RECORD_CHANNEL, type HandlerTrace, type RecordTrace } from './diagnostics.js';
export {
  AbortedError,
  ConfigError,
  DeadlineExceededError,
  DeferError,
  HandlerError,
  InvalidRecordError,
  NonErrorThrown,
  QueueOverflowError,
  RxKafkaError,
  toError,
} from './errors.js';
export {
  BREAK,
  handler,
  named,
  type Break,
  type ChainHandler,
  type Handler,
  type HandlerFn,
  type HandlerResult,
  type LiftedHandler,
  type NamedHandler,
} from './handler.js';
export { mergeMapByKey, PoolGauges, type MergeMapByKeyOptions } from './merge-map-by-key.js';
export {
  invalidOutcome,
  isDeadLetter,
  type AbortedOutcome,
  type BreakOutcome,
  type DeadLetterOutcome,
  type FailedOutcome,
  type InvalidOutcome,
  type OkOutcome,
  type Outcome,
  type OutcomeKind,
  type TimeoutOutcome,
} from './outcome.js';
export type { RetryOptions } from './retry.js';
export {
  runChain,
  type AttachedChain,
  type ChainInput,
  type InFlightLimitedSource,
  type Ordering,
  type RunChainOptions,
} from './run-chain.js';
