/**
 * Guarantee 2 (bounded duplicates) for a clean shutdown: after `stop()` the group's committed
 * offsets are exactly past every processed record, so a restart reprocesses nothing.
 */
import { expect, test } from 'vitest';
import { z } from 'zod';
import { handler, runChain, type SourceRecord } from '@rxkafka/core';
import { fromKafka, runService, toKafka, type OutcomeCounts, emptyOutcomeCounts } from '@rxkafka/kafka';
import { produceRecords } from '@rxkafka/kafka/admin';
import {
  brokers,
  capturingLogger,
  CONSUMER_TUNING,
  duplicates,
  json,
  newTopics,
  readBack,
  sleep,
  unique,
  waitFor,
} from './helpers.js';

const Item = z.object({ id: z.number().int() });
type Item = z.infer<typeof Item>;

test('after a clean stop and restart with the same group, 0 records are reprocessed', async () => {
  const N = 1500;
  const M = 400;
  const PARTITIONS = 3;
  const inTopic = unique('restart-in');
  const outTopic = unique('restart-out');
  const dlqTopic = unique('restart-dlq');
  await newTopics([
    { topic: inTopic, partitions: PARTITIONS },
    { topic: outTopic, partitions: PARTITIONS },
    { topic: dlqTopic },
  ]);
  const b = brokers();
  const groupId = unique('restart');
  const items = (from: number, count: number): { topic: string; key: string; value: string }[] =>
    Array.from({ length: count }, (_, i) => ({
      topic: inTopic,
      key: `k${String((from + i) % 41)}`,
      value: JSON.stringify({ id: from + i }),
    }));

  /** One run of the service; resolves with what it saw once `expected` records are done and it stopped. */
  async function run(
    expected: number,
    produce: () => Promise<unknown>,
  ): Promise<{ seen: SourceRecord[]; counts: OutcomeCounts }> {
    const seen: SourceRecord[] = [];
    const counts = emptyOutcomeCounts();
    const source = fromKafka<Item>({
      brokers: b,
      groupId,
      topics: [inTopic],
      schema: Item,
      rdkafka: CONSUMER_TUNING,
      // Commit rarely on its own, so the final commit on stop is the one that matters.
      commitInterval: 60_000,
      commitEvery: 100_000,
    });
    const service = runService(
      source,
      (s) =>
        s.pipe(
          runChain(
            [
              handler<Item, Record<string, unknown>>('copy', async (ctx) => {
                await new Promise((resolve) => setImmediate(resolve));
                ctx.emit({ topic: outTopic, key: ctx.key, value: ctx.record });
              }),
            ],
            { concurrency: 16 },
          ),
          toKafka({ brokers: b, deadLetterTopic: dlqTopic, logger: capturingLogger() }),
        ),
      {
        handleSignals: false,
        onOutcome: (o) => {
          counts[o.kind]++;
          seen.push(o.source);
        },
      },
    );
    try {
      await produce();
      await waitFor(
        () => seen.length >= expected,
        45_000,
        () => `${String(expected)} records (saw ${String(seen.length)})`,
      );
      // Anything reprocessed would arrive with (or before) the new records; give strays a moment.
      await sleep(1500);
    } finally {
      await source.stop();
    }
    expect(await service).toEqual(counts);
    expect(source.stats.commitErrors).toBe(0);
    return { seen, counts };
  }

  const first = await run(N, () => produceRecords(b, items(0, N)));
  expect(first.counts).toEqual({ ...emptyOutcomeCounts(), ok: N });

  // The restarted service sees only the records produced after the stop.
  const second = await run(M, () => produceRecords(b, items(N, M)));
  expect(second.counts).toEqual({ ...emptyOutcomeCounts(), ok: M });
  const ids = (seen: SourceRecord[]): number[] => seen.map((record) => json(record, Item).id).sort((x, y) => x - y);
  expect(ids(second.seen)).toEqual(Array.from({ length: M }, (_, i) => N + i));

  // Offsets: per partition, run one covered 0..n-1 and run two continued exactly at n, with no overlap.
  const coordinates = (seen: SourceRecord[]): string[] =>
    seen.map((record) => `${String(record.partition)}@${String(record.offset)}`);
  expect(duplicates([...coordinates(first.seen), ...coordinates(second.seen)])).toEqual([]);
  for (let partition = 0; partition < PARTITIONS; partition++) {
    const firstOffsets = first.seen
      .filter((r) => r.partition === partition)
      .map((r) => r.offset)
      .sort((x, y) => x - y);
    const secondOffsets = second.seen
      .filter((r) => r.partition === partition)
      .map((r) => r.offset)
      .sort((x, y) => x - y);
    expect(firstOffsets, `run 1, partition ${String(partition)}`).toEqual(
      Array.from({ length: firstOffsets.length }, (_, i) => i),
    );
    expect(secondOffsets, `run 2, partition ${String(partition)}`).toEqual(
      Array.from({ length: secondOffsets.length }, (_, i) => firstOffsets.length + i),
    );
  }

  // And the output topic holds every id exactly once.
  const out = await readBack([outTopic], { expected: N + M });
  expect(out).toHaveLength(N + M);
  expect(ids(out)).toEqual(Array.from({ length: N + M }, (_, i) => i));
});
