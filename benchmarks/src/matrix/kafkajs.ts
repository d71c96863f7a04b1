/**
 * KafkaJS 2.2.4 contender, as its own process: `eachBatch` with `partitionsConsumedConcurrently`
 * set to the topic's partition count, offsets resolved per batch (eachBatchAutoResolve) and committed
 * by KafkaJS's autocommit (every 1000 records or 1 s, like rxkafka's defaults).
 *
 * passthrough and latency: one `producer.send` of the whole batch (acks all), awaited before the batch
 * resolves. io: the batch's records run through the shared concurrency limit (per key one at a time
 * in key mode), awaited before the batch resolves. stall: a batch handler that never settles.
 */
import kafkajs from 'kafkajs';
import { KeyQueues, Meter, readConfig, sleep, Slots } from './common.js';

const { Kafka, logLevel } = kafkajs;
const config = readConfig();
const meter = new Meter(config.maxMs);
const target = config.records > 0 ? config.records : Infinity;

const kafka = new Kafka({ clientId: 'bench-kafkajs', brokers: config.brokers.split(','), logLevel: logLevel.NOTHING });
const consumer = kafka.consumer({ groupId: config.group });
const produces = config.scenario === 'passthrough' || config.scenario === 'latency';
const producer = produces ? kafka.producer() : undefined;
consumer.on(consumer.events.GROUP_JOIN, () => {
  meter.assigned();
});
await Promise.all([consumer.connect(), producer?.connect()]);
await consumer.subscribe({ topics: [config.topic], fromBeginning: true });

const slots = new Slots(config.concurrency ?? 1);
const keys = config.ordering === 'key' ? new KeyQueues() : undefined;
let done = 0;
meter.progress = () => done;
let held = 0;

const finish = (): void => {
  meter.records = done;
  meter.report();
  process.exit(0);
};

await consumer.run({
  partitionsConsumedConcurrently: config.partitions,
  autoCommitInterval: 1000,
  autoCommitThreshold: 1000,
  eachBatch: async ({ batch }) => {
    meter.first();
    const { messages } = batch;
    for (const m of messages) meter.bytes += m.value?.length ?? 0;
    if (config.scenario === 'stall') {
      meter.reportStallAfter(config.stallMs ?? 10_000, () => held);
      held += messages.length;
      await new Promise<void>(() => undefined);
    } else if (config.scenario === 'io') {
      const delay = config.delayMs ?? 0;
      await Promise.all(
        messages.map(async (m) => {
          await slots.take();
          const work = (): Promise<void> => sleep(delay);
          await (keys ? keys.run(m.key?.toString() ?? '', work) : work());
          slots.give();
        }),
      );
    } else if (producer !== undefined) {
      await producer.send({
        topic: config.outTopic ?? '',
        messages: messages.map((m) => ({ key: m.key, value: m.value })),
      });
    }
    done += messages.length;
    if (done >= target) finish();
  },
});
