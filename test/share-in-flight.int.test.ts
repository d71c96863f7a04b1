/**
 * Partitions share `maxInFlight` in key mode: while more than `resumeAt` of it is used, a partition
 * holding its share is paused and what it already fetched waits aside, so the budget reaches every
 * partition's keys instead of filling with the records of the few keys of one consume batch. Records
 * waiting aside count against the limit: in flight plus waiting never exceeds `maxInFlight`.
 */
import { expect, test } from 'vitest';
import { z } from 'zod';
import { handler, runChain } from '@rxkafka/core';
import { acknowledge, fromKafka, runService } from '@rxkafka/kafka';
import { produceRecords } from '@rxkafka/kafka/admin';
import { brokers, capturingLogger, CONSUMER_TUNING, duplicates, newTopics, sleep, unique } from './helpers.js';

const PARTITIONS = 6;
const KEYS_PER_PARTITION = 4;
const N = 2400;
const MAX_IN_FLIGHT = 120;

const Item = z.object({ id: z.number().int(), seq: z.number().int() });
type Item = z.infer<typeof Item>;

interface RunResult {
  readonly ids: number[];
  /** Per key, the sequence numbers in the order their handlers ran. */
  readonly order: Map<string, number[]>;
  /** The most handlers running at once. */
  readonly peakRunning: number;
  /** The most of in flight + waiting aside, sampled every 10 ms. */
  readonly peakHeld: number;
  readonly sawWaiting: boolean;
  readonly waitingAtEnd: number;
}

async function run(topic: string, shareInFlight: boolean | undefined): Promise<RunResult> {
  const source = fromKafka<Item>({
    brokers: brokers(),
    groupId: unique('share'),
    topics: [topic],
    schema: Item,
    maxInFlight: MAX_IN_FLIGHT,
    logger: capturingLogger(),
    rdkafka: CONSUMER_TUNING,
    ...(shareInFlight === undefined ? {} : { shareInFlight }),
  });
  const ids: number[] = [];
  const order = new Map<string, number[]>();
  let running = 0;
  let peakRunning = 0;
  let peakHeld = 0;
  let sawWaiting = false;
  const work = handler<Item, Record<string, unknown>>('work', async (ctx) => {
    running++;
    peakRunning = Math.max(peakRunning, running);
    const key = ctx.key ?? '';
    order.set(key, [...(order.get(key) ?? []), ctx.record.seq]);
    await sleep(5);
    running--;
  });
  const sampler = setInterval(() => {
    const { inFlight, waiting } = source.stats;
    peakHeld = Math.max(peakHeld, inFlight + waiting);
    if (waiting > 0) sawWaiting = true;
  }, 10);
  const service = runService(
    source,
    (records) =>
      records.pipe(runChain([work], { concurrency: 64, ordering: 'key' }), acknowledge({ logger: capturingLogger() })),
    {
      handleSignals: false,
      logger: capturingLogger(),
      onOutcome: (outcome) => {
        if (outcome.kind === 'ok') ids.push(outcome.context.record.id);
        if (ids.length === N) void source.stop();
      },
    },
  );
  try {
    await Promise.race([
      service,
      sleep(60_000).then(() => {
        throw new Error(`timed out with ${String(ids.length)} of ${String(N)} records`);
      }),
    ]);
  } finally {
    clearInterval(sampler);
    await source.stop();
  }
  return { ids, order, peakRunning, peakHeld, sawWaiting, waitingAtEnd: source.stats.waiting };
}

test('key mode: partitions share maxInFlight, so many keys run at once; in flight + waiting stays within the limit', async () => {
  const topic = unique('share-in');
  await newTopics([{ topic, partitions: PARTITIONS }]);
  // Each partition holds its own few keys, as Kafka's partitioner would place them.
  await produceRecords(
    brokers(),
    Array.from({ length: N }, (_, id) => {
      const partition = id % PARTITIONS;
      const key = `p${String(partition)}-k${String(Math.floor(id / PARTITIONS) % KEYS_PER_PARTITION)}`;
      return { topic, partition, key, value: JSON.stringify({ id, seq: id }) };
    }),
  );

  const shared = await run(topic, undefined);
  const unshared = await run(topic, false);
  console.log(
    `peak handlers running: shared ${String(shared.peakRunning)}, unshared ${String(unshared.peakRunning)} ` +
      `(${String(PARTITIONS * KEYS_PER_PARTITION)} keys); peak in flight + waiting ${String(shared.peakHeld)} of ${String(MAX_IN_FLIGHT)}`,
  );

  for (const result of [shared, unshared]) {
    expect(result.ids).toHaveLength(N);
    expect(duplicates(result.ids)).toEqual([]);
    for (const seqs of result.order.values()) expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(result.peakHeld).toBeLessThanOrEqual(MAX_IN_FLIGHT);
  }
  expect(shared.sawWaiting).toBe(true);
  expect(shared.waitingAtEnd).toBe(0);
  expect(unshared.sawWaiting).toBe(false);
  // Shares reach most keys of every partition; without them one batch's partition fills the budget.
  expect(shared.peakRunning).toBeGreaterThanOrEqual((PARTITIONS * KEYS_PER_PARTITION * 2) / 3);
  expect(shared.peakRunning).toBeGreaterThan(unshared.peakRunning);
});
