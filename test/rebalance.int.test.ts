/**
 * Guarantees 1 and 2 across a cooperative rebalance: a second consumer joins the group mid-run and
 * later leaves gracefully. Partitions move twice while records are in flight; every input id must
 * come out exactly once, whether toKafka confirms deliveries by batches, by delivery reports or by
 * transaction commits.
 */
import { expect, test } from 'vitest';
import { z } from 'zod';
import { emptyOutcomeCounts } from '@rxkafka/kafka';
import { produceRecords, type PlainRecord } from '@rxkafka/kafka/admin';
import {
  brokers,
  duplicates,
  type GroupMember,
  idRecords,
  json,
  newTopics,
  readBack,
  sleep,
  startGroupMember,
  unique,
  waitFor,
} from './helpers.js';

test.each([
  ['delivery batches, the default', 'batches'],
  ['one delivery report per record', 'reports'],
  ["toKafka's transactions", 'transactions'],
] as const)(
  'a consumer joining mid-run and then leaving loses nothing and duplicates nothing (%s)',
  async (_, delivery) => {
    const PHASE = 1000;
    const N = 4 * PHASE;
    const inTopic = unique('rebalance-in');
    const outTopic = unique('rebalance-out');
    const dlqTopic = unique('rebalance-dlq');
    await newTopics([{ topic: inTopic, partitions: 6 }, { topic: outTopic, partitions: 6 }, { topic: dlqTopic }]);
    const b = brokers();
    const groupId = unique('rebalance');
    const phase = (n: number): PlainRecord[] => idRecords(inTopic, n * PHASE, PHASE, 97);

    const member = (name: string): GroupMember =>
      startGroupMember({
        name,
        groupId,
        topic: inTopic,
        outTopic,
        delayMs: () => 2 + Math.random() * 8,
        chainOptions: { concurrency: 4, ordering: 'key' },
        deadLetterTopic: dlqTopic,
        delivery:
          delivery === 'transactions'
            ? { transactions: { id: `${groupId}-${name}` } }
            : delivery === 'reports'
              ? { deliveryBatches: false }
              : {},
      });

    const one = member('one');
    // One's in-flight count when its first revoke began: proof that it was busy then.
    let oneInFlightAtRevoke: number | undefined;
    const sampler = setInterval(() => {
      if (one.source.partitions().some((partition) => partition.revoking))
        oneInFlightAtRevoke ??= one.source.stats.inFlight;
    }, 2);
    let two: ReturnType<typeof member> | undefined;
    try {
      await produceRecords(b, phase(0));
      await waitFor(
        () => one.counts.ok >= PHASE / 2,
        30_000,
        () => `consumer one to get going (${JSON.stringify(one.counts)})`,
      );

      // Consumer two joins while one is busy (phase 1 arrives meanwhile): some of one's partitions are
      // revoked with records in flight.
      two = member('two');
      const joined = two;
      await produceRecords(b, phase(1));
      await waitFor(
        () => joined.source.stats.assigned > 0,
        30_000,
        () => 'consumer two to be assigned partitions',
      );
      expect(one.source.stats.revoked).toBeGreaterThan(0);
      // Input for both, until two has done real work.
      await produceRecords(b, phase(2));
      await waitFor(
        () => joined.counts.ok >= 200,
        30_000,
        () => `consumer two to work (${JSON.stringify(joined.counts)})`,
      );

      // More input, then two leaves gracefully while it has records in flight; one takes its partitions back.
      await produceRecords(b, phase(3));
      await sleep(100);
      const twoInFlightAtLeave = two.source.stats.inFlight;
      await two.source.stop();
      expect(await two.done).toEqual(two.counts);
      // Both moves happened while the members were busy (else the test would prove little).
      expect(oneInFlightAtRevoke).toBeGreaterThan(0);
      expect(twoInFlightAtLeave).toBeGreaterThan(0);

      const total = (): number => one.counts.ok + (two?.counts.ok ?? 0);
      await waitFor(
        () => total() >= N,
        45_000,
        () => `all ${String(N)} records (one ${JSON.stringify(one.counts)}, two ${JSON.stringify(joined.counts)})`,
      );
      await sleep(1500);
    } finally {
      clearInterval(sampler);
      await Promise.all([one.source.stop(), two?.source.stop()]);
    }
    expect(await one.done).toEqual(one.counts);

    // The output topic holds every input id exactly once.
    const out = await readBack([outTopic], { expected: N });
    const ids = out.map((record) => json(record, z.object({ id: z.number(), by: z.enum(['one', 'two']) })).id);
    expect(duplicates(ids)).toEqual([]);
    expect(ids.sort((x, y) => x - y)).toEqual(Array.from({ length: N }, (_, i) => i));

    // Both members did real work, and partitions moved both ways.
    expect(two.counts.ok).toBeGreaterThan(0);
    expect(one.source.stats.assigned).toBeGreaterThan(6);
    expect(two.source.stats.assigned).toBeGreaterThan(0);
    expect(two.source.stats.revoked).toBe(two.source.stats.assigned);
    // Nothing was processed twice, nothing failed.
    expect({ one: one.counts, two: two.counts }).toEqual({
      one: { ...emptyOutcomeCounts(), ok: one.counts.ok },
      two: { ...emptyOutcomeCounts(), ok: two.counts.ok },
    });
    expect(one.counts.ok + two.counts.ok).toBe(N);
  },
);
