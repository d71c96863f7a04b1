/**
 * `@rxkafka/kafka/admin`: topic administration, seeding and the embedded mock cluster, for tests,
 * examples, benchmarks and tools. A service needs none of it; its API is the package's root.
 */
export { TopicExistsError } from './errors.js';
export {
  createTopics,
  produceRecords,
  startMockCluster,
  type CreateTopicsOptions,
  type MockCluster,
  type NewTopic,
  type PlainRecord,
} from './rdkafka.js';
