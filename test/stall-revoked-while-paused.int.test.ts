/**
 * Guarantee 3a (never silently idle), the way into the stall seen without any broker fault:
 * librdkafka keeps an application's pause on a partition across unassign and re-assign.
 *
 * A stalled handler makes member `one` pause its partitions (backpressure). Member `two` joins, so
 * some of one's partitions are revoked while paused (after drainTimeout). The handler then recovers
 * and one resumes what it still holds. Later two leaves and its partitions go back to one, which is
 * no longer paused. Before the fix those partitions kept librdkafka's old pause and were never
 * fetched again, while one's stats said it was not paused. The stall guard is set far beyond the
 * test's length, so only the root fix can make this pass.
 */
import { expect, test } from 'vitest';
import { z } from 'zod';
import { handler, runChain } from '@rxkafka/core';
import { acknowledge, fromKafka, runService, type KafkaSource } from '@rxkafka/kafka';
import { produceRecords } from '@rxkafka/kafka/admin';
import { brokers, capturingLogger, CONSUMER_TUNING, duplicates, newTopics, unique, waitFor } from './helpers.js';

const Item = z.object({ id: z.number().int() });
type Item = z.infer<typeof Item>;
type State = Record<string, unknown>;

const PARTITIONS = 4;
const PHASE = 400;

/** Resolves when `gate` opens; rejects with the signal's reason if the record is aborted first. */
function gateOrAbort(gate: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    void gate.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}

test('a partition revoked while paused and later assigned back to the same member is consumed again', async () => {
  const topic = unique('stall-revoke');
  await newTopics([{ topic, partitions: PARTITIONS }]);
  const b = brokers();
  const groupId = unique('stall-revoke');
  const phase = (n: number): { topic: string; key: string; value: string; partition: number }[] =>
    Array.from({ length: PHASE }, (_, i) => {
      const id = n * PHASE + i;
      return { topic, partition: id % PARTITIONS, key: `k${String(id % 31)}`, value: JSON.stringify({ id }) };
    });
  await produceRecords(b, phase(0));

  // Ids completed, by member, and which partitions each member completed records of.
  const done: { one: number[]; two: number[] } = { one: [], two: [] };
  const partitionsDone = { one: new Set<number>(), two: new Set<number>() };
  let openGate: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (openGate = resolve));

  function member(name: 'one' | 'two', stalled: boolean): { source: KafkaSource<Item, State>; done: Promise<unknown> } {
    const source = fromKafka<Item>({
      brokers: b,
      groupId,
      topics: [topic],
      schema: Item,
      maxInFlight: 20,
      pauseAfter: 100,
      // Revokes must outlast the stalled handler quickly, so partitions leave while paused.
      drainTimeout: 1000,
      abortGrace: 1000,
      // Far beyond this test: the guard must not be what rescues the partitions.
      stallTimeout: 600_000,
      logger: capturingLogger(),
      rdkafka: { ...CONSUMER_TUNING, 'client.id': name },
    });
    const work = handler<Item, State>('work', async (ctx, signal) => {
      if (stalled) await gateOrAbort(gate, signal);
      done[name].push(ctx.record.id);
      partitionsDone[name].add(ctx.partition);
    });
    const run = runService(
      source,
      (records) =>
        records.pipe(
          runChain([work], { concurrency: 20, ordering: 'key' }),
          acknowledge({ logger: capturingLogger() }),
        ),
      { handleSignals: false, logger: capturingLogger() },
    );
    return { source, done: run };
  }

  const one = member('one', true);
  let two: ReturnType<typeof member> | undefined;
  try {
    // 1. One stalls at maxInFlight and pauses every partition it holds.
    await waitFor(
      () => one.source.stats.paused && one.source.stats.pausedPartitions === PARTITIONS,
      30_000,
      () => `one to pause all ${String(PARTITIONS)} partitions (${JSON.stringify(one.source.stats)})`,
    );

    // 2. Two joins: some of one's partitions are revoked while paused (after drainTimeout + abortGrace).
    two = member('two', false);
    const joined = two;
    await waitFor(
      () => one.source.stats.revoked > 0 && joined.source.stats.assigned > 0,
      60_000,
      () => `partitions to move from one to two (one ${JSON.stringify(one.source.stats)})`,
    );
    const movedAway = one.source.stats.revoked;
    expect(movedAway).toBeGreaterThan(0);
    expect(movedAway).toBeLessThan(PARTITIONS);
    // The source's view is the consumer's state: only partitions it still holds can be paused (the
    // revoked ones were resumed as they left; the rest may have resumed too, once the aborted records
    // of the revoked partitions freed room), and the count matches the per-partition view.
    expect(one.source.stats.pausedPartitions).toBeLessThanOrEqual(PARTITIONS - movedAway);
    expect(one.source.partitions().filter((p) => p.paused)).toHaveLength(one.source.stats.pausedPartitions);

    // 3. The handler recovers; one resumes the partitions it still holds.
    openGate();
    await waitFor(
      () => !one.source.stats.paused && one.source.stats.pausedPartitions === 0,
      30_000,
      () => `one to resume (${JSON.stringify(one.source.stats)})`,
    );
    await waitFor(
      () => new Set([...done.one, ...done.two]).size >= PHASE,
      60_000,
      () => `phase 0 processed (one ${String(done.one.length)}, two ${String(done.two.length)})`,
    );

    // 4. Two leaves: its partitions (the ones revoked from one while paused) go back to one.
    await joined.source.stop();
    await joined.done;
    await waitFor(
      () => one.source.stats.assigned >= PARTITIONS + movedAway,
      30_000,
      () => `one to get the partitions back (${JSON.stringify(one.source.stats)})`,
    );

    // 5. New records on every partition: one must consume all of them, the handed-back ones included.
    partitionsDone.one.clear();
    await produceRecords(b, phase(1));
    await waitFor(
      () => done.one.filter((id) => id >= PHASE).length >= PHASE,
      60_000,
      () =>
        `one to process phase 1 (${String(done.one.filter((id) => id >= PHASE).length)}/${String(PHASE)}, ` +
        `partitions ${JSON.stringify([...partitionsDone.one])}, stats ${JSON.stringify(one.source.stats)})`,
    );
    expect([...partitionsDone.one].sort()).toEqual([0, 1, 2, 3]);
  } finally {
    openGate();
    await Promise.all([one.source.stop(), two?.source.stop()]);
  }
  await one.done;

  // Every record processed; none twice (the aborted ones never completed the first time).
  const all = [...done.one, ...done.two];
  expect(duplicates(all)).toEqual([]);
  expect(all.sort((x, y) => x - y)).toEqual(Array.from({ length: 2 * PHASE }, (_, i) => i));
  expect(one.source.stats.stalls).toBe(0);
  expect(one.source.stats.pausedPartitions).toBe(0);
});
