/**
 * @platformatic/kafka 1.35 contender (its last release for Node 20), as its own process: the consumer
 * stream with `autocommit: false`, and at-least-once commits of the last done record per partition
 * (one `consumer.commit()` for all partitions) every 1000 records or 1 s.
 *
 * passthrough and latency: the records that arrived since the last send go out as one
 * `producer.send` (acks all, up to 8 sends in flight, the stream paused above 8,000 buffered records);
 * a record is done when its send resolves. io: `for await` over the stream, the shared concurrency
 * limit (per key one at a time in key mode). stall: a handler that never settles.
 */
import { Consumer, MessagesStreamModes, Producer, type Message } from '@platformatic/kafka';
import { KeyQueues, Meter, readConfig, sleep, Slots } from './common.js';

const config = readConfig();
const meter = new Meter(config.maxMs);
const target = config.records > 0 ? config.records : Infinity;
const bootstrapBrokers = config.brokers.split(',');

const consumer = new Consumer({ groupId: config.group, clientId: 'bench-platformatic', bootstrapBrokers });
const produces = config.scenario === 'passthrough' || config.scenario === 'latency';
const producer = produces ? new Producer({ clientId: 'bench-platformatic-producer', bootstrapBrokers }) : undefined;
consumer.on('consumer:group:join', () => {
  meter.assigned();
});
const stream = await consumer.consume({
  topics: [config.topic],
  mode: MessagesStreamModes.EARLIEST,
  autocommit: false,
});

let done = 0;
meter.progress = () => done;
let sinceCommit = 0;
let lastCommit = performance.now();
const lastDone = new Map<number, Message>();
const commitDone = (): void => {
  // One request for every partition (message.commit() would send one per partition); epoch unknown: -1.
  const offsets = [...lastDone.values()].map((m) => ({
    topic: m.topic,
    partition: m.partition,
    offset: m.offset + 1n,
    leaderEpoch: -1,
  }));
  if (offsets.length > 0)
    consumer.commit({ offsets }).catch((error: unknown) => {
      console.error('platformatic commit failed:', error);
    });
  lastDone.clear();
  sinceCommit = 0;
  lastCommit = performance.now();
};
const recordDone = (m: Message): void => {
  lastDone.set(m.partition, m);
  done++;
  if (done >= target) {
    commitDone();
    meter.records = done;
    meter.report();
    process.exit(0);
  }
  if (++sinceCommit >= 1000 || performance.now() - lastCommit >= 1000) commitDone();
};

if (config.scenario === 'stall') {
  let held = 0;
  stream.on('data', (m: Message) => {
    meter.first();
    meter.reportStallAfter(config.stallMs ?? 10_000, () => held);
    held++;
    meter.bytes += m.value.length;
    // The stalled handler holds its record: no commit, nothing released.
  });
} else if (config.scenario === 'io') {
  const slots = new Slots(config.concurrency ?? 1);
  const keys = config.ordering === 'key' ? new KeyQueues() : undefined;
  const delay = config.delayMs ?? 0;
  // In-order completion per partition for the commit: a record is committable when it and all before it are done.
  const pending = new Map<number, { m: Message; done: boolean }[]>();
  for await (const m of stream) {
    meter.first();
    meter.bytes += m.value.length;
    await slots.take();
    const entry = { m, done: false };
    let queue = pending.get(m.partition);
    if (queue === undefined) pending.set(m.partition, (queue = []));
    queue.push(entry);
    const work = (): Promise<void> => sleep(delay);
    const q = queue;
    void (keys ? keys.run(m.key.toString(), work) : work()).then(() => {
      slots.give();
      entry.done = true;
      while (q.length > 0 && q[0]?.done === true) recordDone(q.shift()!.m);
    });
  }
} else if (producer === undefined) {
  stream.on('data', (m: Message) => {
    meter.first();
    meter.bytes += m.value.length;
    recordDone(m);
  });
} else {
  let buffered: Message[] = [];
  let inFlight = 0;
  const sends: { messages: Message[]; done: boolean }[] = [];
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    while (buffered.length > 0 && inFlight < 8) {
      const messages = buffered.slice(0, 2000);
      buffered = buffered.slice(messages.length);
      const entry = { messages, done: false };
      sends.push(entry);
      inFlight++;
      producer
        .send({ messages: messages.map((m) => ({ topic: config.outTopic ?? '', key: m.key, value: m.value })) })
        .then(() => {
          inFlight--;
          entry.done = true;
          while (sends.length > 0 && sends[0]?.done === true) for (const m of sends.shift()!.messages) recordDone(m);
          if (buffered.length < 4000 && stream.isPaused()) stream.resume();
          if (buffered.length > 0) flush();
        })
        .catch((error: unknown) => {
          console.error('platformatic send failed:', error);
          process.exit(1);
        });
    }
  };
  stream.on('data', (m: Message) => {
    meter.first();
    meter.bytes += m.value.length;
    buffered.push(m);
    if (buffered.length >= 8000) stream.pause();
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  });
}
