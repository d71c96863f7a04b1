/**
 * The head-of-line record is visible: one slow record of a hot key holds its partition's commit
 * point back while later records (other keys) complete. Those completed records would be processed
 * again after a crash, so the source shows them in `stats.headOfLine` / `stats.heldBack` and logs one
 * line once the head has held them for `headOfLineWarnAfter`. When the slow record finishes, the
 * commit moves past all of them and nothing is held back any more.
 */
import { expect, test } from 'vitest';
import { z } from 'zod';
import { handler, runChain } from '@rxkafka/core';
import { acknowledge, fromKafka, runService, type KafkaSource } from '@rxkafka/kafka';
import { produceRecords } from '@rxkafka/kafka/admin';
import { brokers, capturingLogger, CONSUMER_TUNING, newTopics, unique, waitFor } from './helpers.js';

const Item = z.object({ id: z.number().int() });
type Item = z.infer<typeof Item>;

/**
 * Runs a key-ordered chain in which record 0 waits for `slow` and every other record finishes at
 * once; `ok` counts the records done so far.
 */
function runBehindSlowHead(
  source: KafkaSource<Item, Record<string, unknown>>,
  slow: Promise<void>,
): { readonly service: Promise<unknown>; readonly ok: number; readonly okByPartition: Map<number, number> } {
  const run = { service: Promise.resolve() as Promise<unknown>, ok: 0, okByPartition: new Map<number, number>() };
  const work = handler<Item, Record<string, unknown>>('work', async (ctx) => {
    if (ctx.record.id === 0) await slow;
  });
  run.service = runService(
    source,
    (records) =>
      records.pipe(runChain([work], { concurrency: 16, ordering: 'key' }), acknowledge({ logger: capturingLogger() })),
    {
      handleSignals: false,
      logger: capturingLogger(),
      onOutcome: (outcome) => {
        if (outcome.kind !== 'ok') return;
        run.ok++;
        const { partition } = outcome.source;
        run.okByPartition.set(partition, (run.okByPartition.get(partition) ?? 0) + 1);
      },
    },
  );
  return run;
}

/**
 * A topic of `n` records per partition: in partition 0, offset 0 (id 0, key "hot") is the slow one; every
 * other record has a key of its own.
 */
async function hotHeadTopic(prefix: string, n: number, partitions = 1): Promise<string> {
  const topic = unique(prefix);
  await newTopics([{ topic, partitions }]);
  await produceRecords(
    brokers(),
    Array.from({ length: n * partitions }, (_, id) => ({
      topic,
      partition: id % partitions,
      key: id === 0 ? 'hot' : `k${String(id)}`,
      value: JSON.stringify({ id }),
    })),
  );
  return topic;
}

/** What the slow record waits for, and how to let it go. */
function gate(): { readonly slow: Promise<void>; readonly release: () => void } {
  let release: () => void = () => undefined;
  const slow = new Promise<void>((resolve) => (release = resolve));
  return { slow, release };
}

test('a slow record holding the commit back shows in stats and is logged after the threshold', async () => {
  const N = 200;
  const topic = await hotHeadTopic('hol', N);
  const b = brokers();
  const { slow, release } = gate();
  const logger = capturingLogger();
  const source = fromKafka<Item>({
    brokers: b,
    groupId: unique('hol'),
    topics: [topic],
    schema: Item,
    headOfLineWarnAfter: 1500,
    logger,
    rdkafka: CONSUMER_TUNING,
  });
  const run = runBehindSlowHead(source, slow);
  const warned = (): boolean => logger.lines.some((line) => line.message.includes('held the commit point back'));
  try {
    await waitFor(
      () => run.ok >= N - 1,
      30_000,
      () => `every record but the slow one (ok ${String(run.ok)})`,
    );
    // Stats are refreshed once a second.
    await waitFor(
      () => source.stats.heldBack === N - 1,
      5000,
      () => `stats to show ${String(N - 1)} records held back (${JSON.stringify(source.stats)})`,
    );
    expect(source.stats.headOfLine).toEqual([
      expect.objectContaining({ topic, partition: 0, offset: 0, released: false, heldBack: N - 1 }),
    ]);
    // Bounded: headOfLineWarnAfter plus two stats rounds.
    await waitFor(warned, 5000, () => `the head-of-line log line (${JSON.stringify(logger.lines)})`);
    const line = logger.lines.find((l) => l.message.includes('held the commit point back'));
    expect(line?.level).toBe('warn');
    expect(line?.message).toContain(`${topic}[0]@0`);
    expect(line?.message).toContain(`${String(N - 1)} completed records behind it`);
    expect(logger.lines.filter((l) => l.message.includes('held the commit point back'))).toHaveLength(1);

    release();
    await waitFor(
      () => run.ok === N && source.stats.heldBack === 0,
      10_000,
      () => `the slow record to finish and free the rest (${JSON.stringify(source.stats)})`,
    );
    expect(source.stats.headOfLine).toEqual([]);
  } finally {
    release();
    await source.stop();
  }
  await run.service;
});

for (const { bound, maxUncommitted, window } of [
  { bound: 'maxUncommitted 50', maxUncommitted: 50, window: 50 },
  // Records done behind an unfinished one count against maxInFlight, so with the defaults it binds first.
  { bound: 'maxInFlight (default 4096)', maxUncommitted: undefined, window: 4096 },
]) {
  test(`${bound} bounds what a crash would replay: fetching stops at ${String(window)} uncommitted records behind a stuck head`, async () => {
    const N = window + 400;
    const topic = await hotHeadTopic('hol-cap', N);
    const { slow, release } = gate();
    const source = fromKafka<Item>({
      brokers: brokers(),
      groupId: unique('hol-cap'),
      topics: [topic],
      schema: Item,
      ...(maxUncommitted === undefined ? {} : { maxUncommitted }),
      // Out of the way: this test is about the replay window alone.
      maxHeldBack: 1_000_000,
      logger: capturingLogger(),
      rdkafka: CONSUMER_TUNING,
    });
    const run = runBehindSlowHead(source, slow);
    try {
      await waitFor(
        () => run.ok >= window - 1,
        60_000,
        () => `the records behind the slow one (ok ${String(run.ok)}, ${JSON.stringify(source.stats)})`,
      );
      // Longer than pauseAfter (1 s) and a stats round: the source stays at the cap and pauses.
      await new Promise((resolve) => setTimeout(resolve, 2500));
      expect(run.ok).toBe(window - 1);
      expect(source.stats.consumed, JSON.stringify(source.stats)).toBe(window);
      expect(source.stats.uncommitted, JSON.stringify(source.stats)).toBe(window);
      expect(source.stats.paused, JSON.stringify(source.stats)).toBe(true);
      release();
      await waitFor(
        () => run.ok === N,
        60_000,
        () => `every record once the head finished (ok ${String(run.ok)}, ${JSON.stringify(source.stats)})`,
      );
      expect(source.stats.peakInFlight).toBeLessThanOrEqual(window);
    } finally {
      release();
      await source.stop();
    }
    await run.service;
  });
}

test('maxHeldBack stops the partition of a stuck head from fetching, while the other partitions go on', async () => {
  const maxHeldBack = 100;
  const batchSize = 50;
  const N = 600;
  const topic = await hotHeadTopic('hol-held', N, 2);
  const { slow, release } = gate();
  const source = fromKafka<Item>({
    brokers: brokers(),
    groupId: unique('hol-held'),
    topics: [topic],
    schema: Item,
    maxHeldBack,
    batchSize,
    // Held as soon as it holds its share (by default, once it has for pauseAfter: 1 s).
    pauseAfter: 0,
    logger: capturingLogger(),
    rdkafka: CONSUMER_TUNING,
  });
  const run = runBehindSlowHead(source, slow);
  const okIn = (partition: number): number => run.okByPartition.get(partition) ?? 0;
  try {
    await waitFor(
      () => okIn(1) === N,
      60_000,
      () => `every record of partition 1 (ok ${String(okIn(1))}, ${JSON.stringify(source.stats)})`,
    );
    // Longer than a stats round: partition 0 stays held at the limit.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const stats = JSON.stringify(source.stats);
    // It stops once maxHeldBack records wait behind the head; the records of the batch being dispatched
    // then still finish, so it overshoots by at most one batch.
    expect(okIn(0), stats).toBeGreaterThanOrEqual(maxHeldBack);
    expect(okIn(0), stats).toBeLessThanOrEqual(maxHeldBack + batchSize);
    expect(source.stats.heldBack, stats).toBe(okIn(0));
    expect(source.stats.heldBackHolds, stats).toBeGreaterThanOrEqual(1);
    expect(source.stats.pausedPartitions, stats).toBe(1);
    expect(source.stats.paused, stats).toBe(false);
    expect(source.limits.maxHeldBack).toBe(maxHeldBack);

    release();
    await waitFor(
      () => okIn(0) === N && source.stats.waiting === 0 && source.stats.pausedPartitions === 0,
      60_000,
      () => `partition 0 to go on once its head finished (ok ${String(okIn(0))}, ${JSON.stringify(source.stats)})`,
    );
    expect(run.ok).toBe(2 * N);
  } finally {
    release();
    await source.stop();
  }
  await run.service;
});
