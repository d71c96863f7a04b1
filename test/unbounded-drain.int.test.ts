/**
 * `drainTimeout` and `abortGrace` accept `Infinity` ("no limit"). Node fires a timer of `Infinity` ms
 * after 1 ms, so both used to end at once: in-flight records were aborted as the stop began, and the
 * final commit was declared failed before it was sent.
 */
import { expect, test } from 'vitest';
import { handler, runChain, type Outcome } from '@rxkafka/core';
import { acknowledge, fromKafka } from '@rxkafka/kafka';
import { produceRecords } from '@rxkafka/kafka/admin';
import {
  brokers,
  capturingLogger,
  CONSUMER_TUNING,
  IdRecord,
  idRecords,
  newTopics,
  readBack,
  sleep,
  unique,
  waitFor,
  within,
} from './helpers.js';

type State = Record<string, never>;

/** A source over `topic` whose handler holds every record until `release()`; what it saw is counted. */
function heldSource(topic: string, groupId: string, limits: { drainTimeout: number; abortGrace: number }) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const seen = { started: 0, aborted: 0, defersRun: 0, outcomes: [] as Outcome<IdRecord, State>[] };
  const source = fromKafka<IdRecord, State>({
    brokers: brokers(),
    groupId,
    topics: [topic],
    schema: IdRecord,
    logger: capturingLogger(),
    rdkafka: CONSUMER_TUNING,
    ...limits,
  });
  // Ignores its signal on purpose: only the wait bounds can end it early.
  const hold = handler<IdRecord, State>('hold', async (ctx) => {
    seen.started++;
    ctx.signal.addEventListener('abort', () => seen.aborted++);
    ctx.defer(() => {
      seen.defersRun++;
    });
    await released;
  });
  const subscription = source
    .pipe(runChain([hold], { concurrency: 16, ordering: 'unordered' }), acknowledge({ logger: capturingLogger() }))
    .subscribe((outcome) => seen.outcomes.push(outcome));
  return { source, seen, release, subscription };
}

test('drainTimeout: Infinity waits for in-flight records, then commits them', async () => {
  const topic = unique('drain-forever');
  const groupId = unique('drain-forever');
  await newTopics([{ topic, partitions: 1 }]);
  await produceRecords(brokers(), idRecords(topic, 0, 6, 3));
  const { source, seen, release } = heldSource(topic, groupId, { drainTimeout: Infinity, abortGrace: 1000 });
  await waitFor(
    () => seen.started === 6,
    30_000,
    () => `6 records in the handler (${String(seen.started)})`,
  );
  const stopped = source.stop();
  await sleep(1500);
  expect(seen.aborted).toBe(0);
  expect(source.state).toBe('draining');
  release();
  await within(stopped, 30_000, () => 'the stop after the records finished');
  expect(seen.outcomes.map((outcome) => outcome.kind)).toEqual(Array(6).fill('ok'));
  expect(seen.defersRun).toBe(6);
  // The final commit landed: the group goes on after the six.
  await produceRecords(brokers(), idRecords(topic, 6, 2, 3));
  const next = await readBack([topic], { expected: 2, groupId });
  expect(next.map((record) => IdRecord.parse(JSON.parse(String(record.value))).id)).toEqual([6, 7]);
});

test('abortGrace: Infinity waits for aborted records that are slow to finish', async () => {
  const topic = unique('grace-forever');
  await newTopics([{ topic, partitions: 1 }]);
  await produceRecords(brokers(), idRecords(topic, 0, 4, 2));
  const { source, seen, release } = heldSource(topic, unique('grace-forever'), {
    drainTimeout: 200,
    abortGrace: Infinity,
  });
  await waitFor(
    () => seen.started === 4,
    30_000,
    () => `4 records in the handler (${String(seen.started)})`,
  );
  const stopped = source.stop();
  await waitFor(
    () => seen.aborted === 4,
    5000,
    () => `the 4 signals to abort after drainTimeout (${String(seen.aborted)})`,
  );
  await sleep(1500);
  // The records' Promises have not settled: their defers wait for them, and the stop waits for the defers.
  expect(seen.defersRun).toBe(0);
  expect(source.state).toBe('draining');
  release();
  await within(stopped, 30_000, () => 'the stop after the aborted records finished');
  expect(seen.defersRun).toBe(4);
  expect(seen.outcomes.map((outcome) => outcome.kind)).toEqual(Array(4).fill('aborted'));
});
