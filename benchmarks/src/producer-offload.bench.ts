/**
 * What producing costs the main thread, and what handing the same records to a worker thread would
 * cost instead: the measurement behind decisions.md 50 (issue 9, "work off the main thread").
 *
 * - `produce + delivery report`: node-rdkafka's `produce()` for every record and its delivery report
 *   (`dr_cb`, polled every 5 ms, an empty listener), as toKafka and the raw contender do.
 * - `postMessage to a worker + ack`: batches of 500 records (topic, key and value Buffers, headers)
 *   posted to a worker that answers each batch with an `Int32Array` of ids (transferred), which the main
 *   thread walks: the handoff a producer living in a worker would need, without producing. (node-rdkafka
 *   3.6 itself cannot run in a worker thread: it aborts the process, see decisions 50.)
 * - `send to a child process + ack`: the same batches over IPC (`serialization: 'advanced'`) to a child
 *   process that answers with the ids: the handoff a producer in its own process would need.
 *
 * Main-thread cost is the event loop's active time (`performance.eventLoopUtilization`) divided by the
 * records; each arm runs twice per size in one process, against a real broker started here.
 *
 *   pnpm --filter @rxkafka/benchmarks bench:offload   (writes results/producer-offload.json and .md)
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import NodeRdkafka from 'node-rdkafka';
import { createTopics } from '@rxkafka/kafka/admin';
import { startKafkaBroker } from '@rxkafka/testing';
import { connectClient } from './matrix/common.js';

const RECORDS = Number(process.env['BENCH_OFFLOAD_RECORDS'] ?? 200_000);
const BATCH = 500;
const TOPIC = 'producer-offload';

interface Sample {
  readonly arm: string;
  readonly valueBytes: number;
  readonly wallMs: number;
  readonly mainThreadUsPerRecord: number;
  readonly eventLoopUtilization: number;
}

interface Item {
  readonly topic: string;
  readonly key: Buffer;
  readonly value: Buffer;
}

const items = (valueBytes: number): Item[] =>
  Array.from({ length: RECORDS }, (_, i) => ({
    topic: TOPIC,
    key: Buffer.from(`k${String(i % 1000)}`),
    value: Buffer.alloc(valueBytes, i % 251),
  }));

/** Runs `work` until it resolves and reports the main thread's active time per record. */
async function measure(arm: string, valueBytes: number, work: () => Promise<void>): Promise<Sample> {
  const before = performance.eventLoopUtilization();
  const start = performance.now();
  await work();
  const wallMs = performance.now() - start;
  const used = performance.eventLoopUtilization(before);
  return {
    arm,
    valueBytes,
    wallMs: Math.round(wallMs),
    mainThreadUsPerRecord: Number(((used.active / RECORDS) * 1000).toFixed(2)),
    eventLoopUtilization: Number(used.utilization.toFixed(2)),
  };
}

async function produceArm(brokers: string, records: readonly Item[]): Promise<() => Promise<void>> {
  const producer = new NodeRdkafka.Producer({
    'bootstrap.servers': brokers,
    dr_cb: true,
    'linger.ms': 5,
    'enable.idempotence': true,
    'queue.buffering.max.messages': 1_000_000,
  });
  await connectClient(producer);
  producer.setPollInterval(5);
  return () =>
    new Promise<void>((resolve) => {
      let delivered = 0;
      producer.on('delivery-report', () => {
        if (++delivered === records.length) {
          producer.disconnect(() => {
            resolve();
          });
        }
      });
      let next = 0;
      const step = (): void => {
        for (const end = Math.min(next + BATCH, records.length); next < end; next++) {
          const record = records[next] as Item;
          producer.produce(record.topic, null, record.value, record.key, Date.now(), next);
        }
        if (next < records.length) setImmediate(step);
      };
      step();
    });
}

const ACK_WORKER = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', (batch) => {
  const ids = new Int32Array(batch.length);
  for (let i = 0; i < batch.length; i++) ids[i] = batch[i].id;
  parentPort.postMessage(ids, [ids.buffer]);
});`;

/** Sends the records in batches of BATCH, one batch per turn of the event loop, as toKafka's would be. */
function sendInBatches(records: readonly Item[], send: (batch: object[]) => void): void {
  let next = 0;
  const step = (): void => {
    const batch = [];
    for (const end = Math.min(next + BATCH, records.length); next < end; next++) {
      const record = records[next] as Item;
      batch.push({ id: next, topic: record.topic, key: record.key, value: record.value, headers: [] });
    }
    send(batch);
    if (next < records.length) setImmediate(step);
  };
  step();
}

function postArm(records: readonly Item[]): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      const worker = new Worker(ACK_WORKER, { eval: true });
      let acked = 0;
      worker.on('message', (ids: Int32Array) => {
        for (const id of ids) if (id >= 0) acked++;
        if (acked === records.length) void worker.terminate().then(() => resolve());
      });
      sendInBatches(records, (batch) => {
        worker.postMessage(batch);
      });
    });
}

const ACK_CHILD = `process.on('message', (batch) => { process.send(batch.map((record) => record.id)); });`;

function childArm(records: readonly Item[]): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      const child = spawn(process.execPath, ['-e', ACK_CHILD], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        serialization: 'advanced',
      });
      let acked = 0;
      child.on('message', (ids: number[]) => {
        for (const id of ids) if (id >= 0) acked++;
        if (acked === records.length) {
          child.kill();
          resolve();
        }
      });
      sendInBatches(records, (batch) => {
        child.send(batch);
      });
    });
}

const broker = await startKafkaBroker();
const samples: Sample[] = [];
try {
  await createTopics(broker.brokers, [{ topic: TOPIC, partitions: 12 }]);
  for (const valueBytes of [100, 4096]) {
    const records = items(valueBytes);
    for (let round = 0; round < 2; round++) {
      const produce = await produceArm(broker.brokers, records);
      samples.push(await measure('produce + delivery report', valueBytes, produce));
      samples.push(await measure('postMessage to a worker + ack', valueBytes, postArm(records)));
      samples.push(await measure('send to a child process + ack', valueBytes, childArm(records)));
    }
  }
} finally {
  await broker.stop();
}

const rows = samples.map(
  (s) =>
    `| ${s.arm} | ${String(s.valueBytes)} B | ${s.mainThreadUsPerRecord.toFixed(2)} | ${s.eventLoopUtilization.toFixed(2)} | ${String(s.wallMs)} |`,
);
const table = [
  `Main-thread cost per record, ${String(RECORDS)} records per run (${new Date().toISOString()}):`,
  '',
  '| arm | value | main thread µs / record | event-loop utilisation | wall ms |',
  '|---|---|---|---|---|',
  ...rows,
  '',
].join('\n');
const out = new URL('../results/', import.meta.url);
writeFileSync(new URL('producer-offload.json', out), `${JSON.stringify({ records: RECORDS, samples }, null, 2)}\n`);
writeFileSync(new URL('producer-offload.md', out), table);
process.stdout.write(table);
