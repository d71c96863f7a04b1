/**
 * Guarantee 7 (bounded memory): a slow handler does not make the consumer buffer the topic.
 * In-flight records stay at `maxInFlight`, partitions are paused, and the memory the process holds
 * while every handler is stalled stays far below the data that flows through.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect, test } from 'vitest';
import { z } from 'zod';
import { handler, runChain } from '@rxkafka/core';
import { fromKafka, runService, toKafka, type OutcomeCounts, emptyOutcomeCounts } from '@rxkafka/kafka';
import { produceRecords } from '@rxkafka/kafka/admin';
import { brokers, capturingLogger, CONSUMER_TUNING, newTopics, sleep, unique, waitFor } from './helpers.js';

const N = 3000;
const VALUE_BYTES = 24 * 1024;
const MAX_IN_FLIGHT = 50;
const MAX_IN_FLIGHT_BYTES = 2 * 1024 * 1024;
const MiB = 1024 * 1024;
/**
 * Memory still reachable (after a full GC) while every handler is stalled. Bounded, that is about
 * 50 records of 24 KiB; the unbounded control holds the whole 72 MiB topic. Peak RSS is reported
 * too, but garbage-collection timing moves it by tens of MiB between runs (control: 36 to 114 MiB).
 */
const RETAINED_BOUND = 16 * MiB;
const RSS_SANITY_BOUND = 64 * MiB;

// A full collection on demand, so retained memory can be measured rather than guessed from RSS.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

function retainedBytes(): number {
  collectGarbage();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

interface RunResult {
  counts: OutcomeCounts;
  peakInFlight: number;
  peakInFlightBytes: number;
  pauses: number;
  /** Records taken from Kafka while every handler was stalled. */
  consumedWhileStalled: number;
  pausedWhileStalled: boolean;
  rssGrowth: number;
  /** Reachable heap and Buffer memory above the start, after a full GC, while handlers were stalled. */
  retainedWhileStalled: number;
}

async function run(limits: { maxInFlight: number; maxInFlightBytes: number }): Promise<RunResult> {
  const inTopic = unique('bp-in');
  const dlqTopic = unique('bp-dlq');
  await newTopics([{ topic: inTopic, partitions: 4 }, { topic: dlqTopic }]);
  const b = brokers();
  const pad = 'x'.repeat(VALUE_BYTES - 32);
  // A generator, so the test itself never holds the whole input in memory.
  function* input(): Generator<{ topic: string; key: string; value: string }> {
    for (let id = 0; id < N; id++)
      yield { topic: inTopic, key: `k${String(id % 64)}`, value: JSON.stringify({ id, pad }) };
  }
  await produceRecords(b, input());

  // The handler's dependency stalls at first (every call waits for the gate), then is merely slow.
  let openGate: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (openGate = resolve));
  const counts = emptyOutcomeCounts();
  const source = fromKafka<{ id: number; pad: string }>({
    brokers: b,
    groupId: unique('bp'),
    topics: [inTopic],
    schema: z.object({ id: z.number().int(), pad: z.string() }),
    rdkafka: CONSUMER_TUNING,
    ...limits,
  });
  const retainedBaseline = retainedBytes();
  const baseline = process.memoryUsage().rss;
  let peakRss = baseline;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 10);
  const service = runService(
    source,
    (s) =>
      s.pipe(
        runChain(
          [
            handler<{ id: number; pad: string }, Record<string, unknown>>('slow', async () => {
              await gate;
              await new Promise((resolve) => setTimeout(resolve, 10));
            }),
          ],
          { concurrency: 50, ordering: 'unordered', maxQueued: 1_000_000 },
        ),
        toKafka({ brokers: b, deadLetterTopic: dlqTopic, logger: capturingLogger() }),
      ),
    {
      handleSignals: false,
      onOutcome: (o) => {
        counts[o.kind]++;
      },
    },
  );
  let consumedWhileStalled: number;
  let pausedWhileStalled: boolean;
  let retainedWhileStalled: number;
  try {
    // Stalled: wait until the source is at its limit, past pauseAfter (default 1 s), and a bit more.
    await waitFor(
      () => source.stats.consumed > 0,
      20_000,
      () => 'the first records',
    );
    await sleep(2500);
    consumedWhileStalled = source.stats.consumed;
    pausedWhileStalled = source.stats.paused;
    retainedWhileStalled = retainedBytes() - retainedBaseline;
    openGate();
    await waitFor(
      () => counts.ok >= N,
      50_000,
      () => `all ${String(N)} records (${JSON.stringify(counts)})`,
    );
  } finally {
    openGate();
    clearInterval(sampler);
    await source.stop();
  }
  expect(await service).toEqual(counts);
  const { peakInFlight, peakInFlightBytes, pauses } = source.stats;
  return {
    counts,
    peakInFlight,
    peakInFlightBytes,
    pauses,
    consumedWhileStalled,
    pausedWhileStalled,
    rssGrowth: peakRss - baseline,
    retainedWhileStalled,
  };
}

test('a slow handler keeps in-flight records and memory bounded, by pausing partitions', async () => {
  const bounded = await run({ maxInFlight: MAX_IN_FLIGHT, maxInFlightBytes: MAX_IN_FLIGHT_BYTES });
  const report = (r: RunResult): string =>
    JSON.stringify({
      ...r,
      counts: undefined,
      rssGrowthMiB: Math.round(r.rssGrowth / MiB),
      retainedMiB: Math.round(r.retainedWhileStalled / MiB),
    });
  expect(bounded.counts, report(bounded)).toEqual({ ...emptyOutcomeCounts(), ok: N });
  // pollLoop asks consume() for at most `maxInFlight - inFlight` records, and for 1 only while
  // paused (when paused partitions yield nothing), so the cap holds exactly: no batch overshoot.
  expect(bounded.peakInFlight, report(bounded)).toBeLessThanOrEqual(MAX_IN_FLIGHT);
  expect(bounded.peakInFlightBytes, report(bounded)).toBeLessThanOrEqual(MAX_IN_FLIGHT_BYTES);
  // While every handler was stalled (2.5 s, longer than pauseAfter) the source took exactly its cap
  // from Kafka and then paused its partitions.
  expect(bounded.consumedWhileStalled, report(bounded)).toBe(MAX_IN_FLIGHT);
  expect(bounded.pausedWhileStalled, report(bounded)).toBe(true);
  expect(bounded.pauses, report(bounded)).toBeGreaterThanOrEqual(1);
  // ~72 MiB flow through; bounded runs measure 9 to 35 MiB of peak RSS growth (client threads, librdkafka's
  // small prefetch, garbage not yet collected). Unbounded, the whole topic lands in memory.
  expect(bounded.retainedWhileStalled, report(bounded)).toBeLessThan(RETAINED_BOUND);
  expect(bounded.rssGrowth, report(bounded)).toBeLessThan(RSS_SANITY_BOUND);

  // Control: the same pipeline without effective limits buffers the topic, and breaks the bound.
  // This shows the bound above can fail, on this machine, today.
  const unbounded = await run({ maxInFlight: 100_000, maxInFlightBytes: 1024 * MiB });
  expect(unbounded.counts, report(unbounded)).toEqual({ ...emptyOutcomeCounts(), ok: N });
  expect(unbounded.consumedWhileStalled, report(unbounded)).toBeGreaterThan(N / 2);
  expect(unbounded.retainedWhileStalled, report(unbounded)).toBeGreaterThan(3 * RETAINED_BOUND);
});
