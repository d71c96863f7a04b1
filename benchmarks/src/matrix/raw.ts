/**
 * Raw node-rdkafka contenders, each run as its own process (see common.ts for the protocol).
 *
 * variant `fair` — the minimal honest at-least-once loop: non-flowing `consume(500)`; per record one
 *   `produce` with a delivery report (passthrough) or one awaited handler (io); a record's batch is
 *   done when every report of the batch is in; the consumed positions of completed batches are
 *   committed (async) every 1000 records or 1 s, and once more (sync) at the end.
 * variant `child` (passthrough) — the fair loop with its producer in a child process
 *   (raw-child-producer.ts): each consume batch goes over IPC in one message, at most 8 batches ahead;
 *   the child's CPU and peak RSS are added to the result. What moving the producer off the main
 *   thread is worth (docs/decisions.md 52).
 * variant `txn` (passthrough) — produce inside transactions whose commits also commit the consumed
 *   positions; delivery reports for failures only (docs/decisions.md 53).
 * variant `consume` — its best consume-only loop: `consume(1000)`, count, commit every 1 s.
 * variant `flowing` (stall only) — flowing mode (`consume()` with 'data' events) and a handler that
 *   never finishes: shows what an unbounded read-ahead costs in memory.
 */
import type NodeRdkafka from 'node-rdkafka';
import type { LibrdKafkaError, Message, TopicPartitionOffset } from 'node-rdkafka';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connectClient, KeyQueues, Meter, readConfig, sleep, Slots } from './common.js';
import type { ChildAnswer, ChildBatch } from './raw-child-producer.js';

const config = readConfig();
// @confluentinc/kafka-javascript keeps node-rdkafka's API (it is its fork): the same loop runs on either.
const Kafka = (
  config.lib === 'ckjs'
    ? (await import('@confluentinc/kafka-javascript')).default
    : (await import('node-rdkafka')).default
) as typeof NodeRdkafka;
const { KafkaConsumer, Producer, CODES } = Kafka;
const meter = new Meter(config.maxMs);
const variant = config.variant ?? 'fair';
const target = config.records > 0 ? config.records : Infinity;

const consumer = new KafkaConsumer(
  {
    'bootstrap.servers': config.brokers,
    'group.id': config.group,
    'client.id': `bench-raw-${variant}`,
    'enable.auto.commit': false,
    // rxkafka sets it too: librdkafka's default 1 s back-off after a full fetch queue stalls the fetcher.
    'fetch.queue.backoff.ms': 5,
    // The default handler (assign) plus a 'rebalance' event, which opens the window.
    rebalance_cb: true,
  },
  { 'auto.offset.reset': 'earliest' },
);
consumer.on('rebalance', (error: LibrdKafkaError) => {
  if (error.code === CODES.ERRORS.ERR__ASSIGN_PARTITIONS) meter.assigned();
});
const produces = config.scenario === 'passthrough' || config.scenario === 'latency';
const child = produces && variant === 'child' ? await startChild() : undefined;
/** The `child` variant's producer process (raw-child-producer.ts), once it is connected. */
async function startChild(): Promise<ChildProcess> {
  const script = fileURLToPath(new URL('./raw-child-producer.ts', import.meta.url));
  const proc = fork(script, [config.brokers, config.outTopic ?? ''], {
    serialization: 'advanced',
    execArgv: process.execArgv,
  });
  await new Promise<void>((resolve, reject) => {
    proc.once('message', () => resolve());
    proc.once('exit', (code) => reject(new Error(`the producer process exited (${String(code)})`)));
  });
  return proc;
}
const producer =
  produces && !child
    ? new Producer({
        'bootstrap.servers': config.brokers,
        'client.id': 'bench-raw-producer',
        dr_cb: true,
        'enable.idempotence': true,
        'linger.ms': 5,
        // txn: a transaction's commit tells that all of it was delivered; only failures are reported.
        ...(variant === 'txn'
          ? { 'transactional.id': `bench-raw-txn-${config.group}`, 'delivery.report.only.error': true }
          : {}),
      })
    : undefined;
await Promise.all([connectClient(consumer), ...(producer ? [connectClient(producer)] : [])]);
producer?.setPollInterval(5);
consumer.setDefaultConsumeTimeout(25);
consumer.subscribe([config.topic]);

if (config.scenario === 'stall') {
  const held: Message[] = [];
  const onRecord = (message: Message): void => {
    meter.first();
    meter.reportStallAfter(config.stallMs ?? 10_000, () => held.length);
    held.push(message);
    meter.records++;
    meter.bytes += message.value?.length ?? 0;
  };
  if (variant === 'flowing') {
    consumer.on('data', onRecord);
    consumer.consume();
  } else {
    // The fair loop awaits its handler, which never settles: it stops consuming at the first record.
    const takeFirst = (error: LibrdKafkaError | null | undefined, messages: Message[]): void => {
      if (error) throw new Error(`consume: ${error.message}`);
      const first = messages[0];
      if (first) onRecord(first);
    };
    consumer.consume(500, takeFirst);
    const poll = setInterval(() => {
      if (meter.started) clearInterval(poll);
      else consumer.consume(500, takeFirst);
    }, 30);
  }
} else if (variant === 'txn' && producer) {
  await mainTransactional(producer);
} else {
  await main();
}

async function main(): Promise<void> {
  const batchSize = variant === 'consume' ? 1000 : 500;
  // Completion tracking: a batch is committable once every record in it is done, and all batches before it.
  interface Batch {
    remaining: number;
    readonly positions: Map<number, number>;
    sealed: boolean;
  }
  const batches: Batch[] = [];
  const committable = new Map<number, number>();
  let done = 0;
  meter.progress = () => done;
  let sinceCommit = 0;
  let lastCommit = performance.now();
  let failure: Error | undefined;
  let wakeDone: (() => void) | undefined;
  const offsets = (): TopicPartitionOffset[] =>
    [...committable].map(([partition, offset]) => ({ topic: config.topic, partition, offset }));
  const advance = (): void => {
    let head = batches[0];
    while (head !== undefined && head.sealed && head.remaining === 0) {
      for (const [p, o] of head.positions) committable.set(p, o);
      batches.shift();
      head = batches[0];
    }
  };
  const maybeCommit = (): void => {
    if (sinceCommit < 1000 && performance.now() - lastCommit < 1000) return;
    advance();
    if (committable.size > 0) consumer.commit(offsets());
    sinceCommit = 0;
    lastCommit = performance.now();
  };
  const recordDone = (batch: Batch): void => {
    batch.remaining--;
    done++;
    sinceCommit++;
    if (done >= target) wakeDone?.();
    else maybeCommit();
  };

  // The child variant: batches sent to the producer process and not yet delivered, by id.
  const sent = new Map<number, Batch>();
  let nextId = 0;
  let wakeSender: (() => void) | undefined;
  let childStats: ((stats: { cpuSeconds: number; peakRssMB: number }) => void) | undefined;
  child?.on('message', (answer: ChildAnswer) => {
    if ('cpuSeconds' in answer) childStats?.(answer);
    else if ('error' in answer) failure ??= new Error(answer.error);
    else {
      for (const id of answer) {
        const batch = sent.get(id);
        sent.delete(id);
        for (let n = batch?.remaining ?? 0; n > 0; n--) recordDone(batch!);
      }
      wakeSender?.();
    }
  });
  const sendToChild = async (batch: Batch, messages: Message[]): Promise<void> => {
    while (sent.size >= 8) await new Promise<void>((resolve) => (wakeSender = resolve));
    const id = nextId++;
    sent.set(id, batch);
    const message: ChildBatch = { id, values: messages.map((m) => m.value), keys: messages.map((m) => m.key ?? null) };
    child?.send(message);
  };
  producer?.on('delivery-report', (error: LibrdKafkaError | null | undefined, report) => {
    if (error) failure ??= new Error(`delivery: ${error.message}`);
    recordDone(report.opaque as Batch);
  });
  const tryProduce = (message: Message, batch: Batch): boolean => {
    try {
      producer?.produce(config.outTopic ?? '', null, message.value, message.key, Date.now(), batch);
      return true;
    } catch (error) {
      if ((error as Partial<LibrdKafkaError>).code !== CODES.ERRORS.ERR__QUEUE_FULL) throw error;
      return false;
    }
  };
  const slots = new Slots(config.concurrency ?? 1);
  const keys = config.ordering === 'key' ? new KeyQueues() : undefined;
  const delay = config.delayMs ?? 0;

  let consumed = 0;
  while (consumed < target) {
    const messages = await consumeBatch(batchSize);
    if (messages.length === 0) {
      if (config.scenario !== 'passthrough' && config.scenario !== 'latency') maybeCommit();
      continue;
    }
    meter.first();
    // Exactly `target` records, as the other contenders do: a run longer than theirs would spread its
    // fixed start (assignment → first record) over more records.
    const taken = target - consumed < messages.length ? messages.slice(0, target - consumed) : messages;
    const batch: Batch = { remaining: taken.length, positions: new Map(), sealed: false };
    batches.push(batch);
    for (const message of taken) {
      batch.positions.set(message.partition, message.offset + 1);
      meter.bytes += message.value?.length ?? 0;
      consumed++;
      if (config.scenario === 'consume') {
        recordDone(batch);
      } else if (config.scenario === 'io') {
        await slots.take();
        const work = (): Promise<void> => sleep(delay);
        const run = keys ? keys.run(message.key?.toString() ?? '', work) : work();
        void run.then(() => {
          slots.give();
          recordDone(batch);
        });
      } else if (child) {
        // sent below, the whole batch in one message
      } else {
        while (!tryProduce(message, batch)) {
          producer?.poll();
          await sleep(5);
        }
      }
    }
    if (child) await sendToChild(batch, taken);
    batch.sealed = true;
    if (failure) throw failure;
  }
  if (done < target) await new Promise<void>((resolve) => (wakeDone = resolve));
  if (failure) throw failure;
  advance();
  consumer.commitSync(offsets());
  meter.records = done;
  if (child) {
    child.send('stats');
    meter.helper = await new Promise((resolve) => (childStats = resolve));
  }
  meter.report();
  // Leaving the (throw-away) group is not measured; the result line is out.
  process.exit(0);
}

function consumeBatch(n: number): Promise<Message[]> {
  return new Promise((resolve, reject) => {
    consumer.consume(n, (error: LibrdKafkaError | null | undefined, messages) => {
      if (error) reject(new Error(`consume: ${error.message}`));
      else resolve(messages);
    });
  });
}

/** Calls a node-rdkafka method that takes a callback `(error)` last, as a Promise. */
function settled(call: (done: (error: LibrdKafkaError | null | undefined) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    call((error) => {
      if (error) reject(new Error(error.message));
      else resolve();
    });
  });
}

/**
 * The `txn` variant (passthrough): consume → produce inside a transaction, whose commit also commits the
 * consumed positions (`sendOffsetsToTransaction`): exactly once, and no delivery report per record. A
 * transaction ends after 10,000 records or 200 ms; the loop waits for its commit before the next.
 */
async function mainTransactional(txProducer: NodeRdkafka.Producer): Promise<void> {
  let failure: Error | undefined;
  txProducer.on('delivery-report', (error: LibrdKafkaError | null | undefined) => {
    if (error) failure ??= new Error(`delivery: ${error.message}`);
  });
  await settled((done) => txProducer.initTransactions(30_000, done));
  const positions = new Map<number, number>();
  let inTransaction = 0;
  let startedAt = performance.now();
  let done = 0;
  meter.progress = () => done;
  const commit = async (): Promise<void> => {
    const offsets = [...positions].map(([partition, offset]) => ({ topic: config.topic, partition, offset }));
    await settled((cb) => txProducer.sendOffsetsToTransaction(offsets, consumer, 30_000, cb));
    await settled((cb) => txProducer.commitTransaction(30_000, cb));
    if (failure) throw failure;
    done += inTransaction;
    inTransaction = 0;
  };
  let consumed = 0;
  while (consumed < target) {
    const messages = await consumeBatch(500);
    if (messages.length > 0) {
      meter.first();
      if (inTransaction === 0) {
        await settled((cb) => txProducer.beginTransaction(cb));
        startedAt = performance.now();
      }
      const take = Math.min(messages.length, target - consumed);
      for (let i = 0; i < take; i++) {
        const message = messages[i]!;
        meter.bytes += message.value?.length ?? 0;
        for (;;) {
          try {
            txProducer.produce(config.outTopic ?? '', null, message.value, message.key, Date.now());
            break;
          } catch (error) {
            if ((error as Partial<LibrdKafkaError>).code !== CODES.ERRORS.ERR__QUEUE_FULL) throw error;
            txProducer.poll();
            await sleep(5);
          }
        }
        positions.set(message.partition, message.offset + 1);
      }
      consumed += take;
      inTransaction += take;
    }
    if (inTransaction >= 10_000 || (inTransaction > 0 && performance.now() - startedAt >= 200)) await commit();
  }
  if (inTransaction > 0) await commit();
  meter.records = done;
  meter.report();
  process.exit(0);
}
