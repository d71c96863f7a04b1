export { testContext, type TestContextInit } from './context-factory.js';
export {
  createTestScheduler,
  errorShape,
  marbles,
  normaliseErrors,
  observableMatcher,
  type ErrorShape,
  type RunHelpers,
} from './marbles.js';
export { fromMemory, toMemory, type MemoryRecord, type MemorySourceOptions } from './memory.js';
export {
  startKafkaBroker,
  type KafkaBroker,
  type KillBrokerOptions,
  type RestartBrokerOptions,
  type StartAgainOptions,
  type StartKafkaBrokerOptions,
} from './broker.js';
