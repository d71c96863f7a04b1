/**
 * The commit a consumer makes as it closes. It used to be `commitSync`, which blocks the thread until
 * the broker answers: with the broker away, a stop froze the process 46 s at a time and took 230 s.
 * Now it is sent without waiting, and librdkafka's close (bounded by `connectTimeout`) sends it first.
 * This file starts its own broker for the second test: stopping the shared one would fail other files.
 */
import { afterAll, expect, test } from 'vitest';
import { handler, runChain } from '@rxkafka/core';
import { acknowledge, fromKafka } from '@rxkafka/kafka';
import { createTopics, produceRecords } from '@rxkafka/kafka/admin';
import { startKafkaBroker, type KafkaBroker } from '@rxkafka/testing';
import {
  brokers,
  capturingLogger,
  CONSUMER_TUNING,
  IdRecord,
  idRecords,
  newTopics,
  readBack,
  unique,
  waitFor,
  within,
} from './helpers.js';

type State = Record<string, never>;

/** The longest the event loop went without running a 20 ms interval, while `work` ran. */
async function longestStall<T>(work: Promise<T>): Promise<{ result: T; stallMs: number }> {
  let stallMs = 0;
  let last = performance.now();
  const beat = setInterval(() => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - last);
    last = now;
  }, 20);
  try {
    return { result: await work, stallMs };
  } finally {
    clearInterval(beat);
  }
}

test('an unsubscribed source commits what it finished as it closes', async () => {
  const topic = unique('teardown-commit');
  const groupId = unique('teardown-commit');
  await newTopics([{ topic, partitions: 2 }]);
  await produceRecords(brokers(), idRecords(topic, 0, 20, 5));
  const source = fromKafka<IdRecord, State>({
    brokers: brokers(),
    groupId,
    topics: [topic],
    schema: IdRecord,
    logger: capturingLogger(),
    rdkafka: CONSUMER_TUNING,
    // No periodic commit: only the one made on the way out can move the group.
    commitInterval: 600_000,
    commitEvery: 1_000_000,
  });
  let done = 0;
  const subscription = source
    .pipe(runChain([handler<IdRecord, State>('count', () => undefined)]), acknowledge({ logger: capturingLogger() }))
    .subscribe(() => done++);
  await waitFor(
    () => done === 20,
    30_000,
    () => `20 records done (${String(done)})`,
  );
  expect(source.stats.commits).toBe(0);
  subscription.unsubscribe();
  await within(source.closed, 30_000, () => 'the close');
  await produceRecords(brokers(), idRecords(topic, 20, 2, 5));
  const next = await readBack([topic], { expected: 2, groupId });
  expect(next.map((record) => IdRecord.parse(JSON.parse(String(record.value))).id).sort()).toEqual([20, 21]);
});

let ownBroker: KafkaBroker | undefined;
afterAll(async () => {
  await ownBroker?.stop();
});

test('a stop while the broker is away neither blocks the thread nor outlasts its bounds', async () => {
  ownBroker = await startKafkaBroker();
  const b = ownBroker.brokers;
  const topic = unique('teardown-away');
  await createTopics(b, [{ topic, partitions: 1 }]);
  await produceRecords(b, idRecords(topic, 0, 30, 5));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let started = 0;
  const source = fromKafka<IdRecord, State>({
    brokers: b,
    groupId: unique('teardown-away'),
    topics: [topic],
    schema: IdRecord,
    logger: capturingLogger(),
    rdkafka: CONSUMER_TUNING,
    drainTimeout: 2000,
    connectTimeout: 5000,
  });
  const hold = handler<IdRecord, State>('hold', async () => {
    started++;
    await released;
  });
  source
    .pipe(runChain([hold], { ordering: 'unordered', concurrency: 64 }), acknowledge({ logger: capturingLogger() }))
    .subscribe({ error: () => undefined });
  await waitFor(
    () => started === 30,
    30_000,
    () => `30 records in the handler (${String(started)})`,
  );
  await ownBroker.kill();
  // Done while the broker is away: nothing can commit them any more.
  release();
  const stoppedAt = performance.now();
  const { stallMs } = await longestStall(within(source.stop(), 60_000, () => 'the stop'));
  const tookMs = performance.now() - stoppedAt;
  // drainTimeout for the final commit, connectTimeout for the close, and slack for a loaded machine.
  expect(tookMs).toBeLessThan(2000 + 5000 + 5000);
  expect(stallMs).toBeLessThan(1000);
  expect(source.state).toBe('closed');
});
