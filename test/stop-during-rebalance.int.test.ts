/**
 * A member that stops while the group is rebalancing commits what it finished without blocking the
 * process: a blocking commit sent during a rebalance round is held until the round ends (seconds), and
 * froze every other member and timer of the process meanwhile. Member two stops right after its first
 * revoke, when it has rejoined for the cooperative second round; its records must come out exactly once.
 */
import { expect, test } from 'vitest';
import { z } from 'zod';
import { handler } from '@rxkafka/core';
import { produceRecords } from '@rxkafka/kafka/admin';
import {
  brokers,
  duplicates,
  type GroupMember,
  json,
  newTopics,
  readBack,
  startGroupMember,
  unique,
  waitFor,
} from './helpers.js';

const Item = z.object({ id: z.number().int() });
type Item = z.infer<typeof Item>;

/** The longest gap between ticks of a 10 ms interval, from start() until stop(). */
function eventLoopGaps(): { stop: () => number } {
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 10);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.max(longest, performance.now() - last);
    },
  };
}

test('a member stopping during a rebalance round commits its finished records and never blocks the process', async () => {
  const N = 6000;
  const inTopic = unique('stop-rebalance-in');
  const outTopic = unique('stop-rebalance-out');
  await newTopics([
    { topic: inTopic, partitions: 6 },
    { topic: outTopic, partitions: 6 },
  ]);
  const b = brokers();
  const groupId = unique('stop-rebalance');

  const member = (name: string): GroupMember<Item> =>
    startGroupMember({
      name,
      groupId,
      topic: inTopic,
      schema: Item,
      handlers: [
        handler<Item, Record<string, unknown>>('work', async (ctx) => {
          await new Promise((resolve) => setTimeout(resolve, 1));
          ctx.emit({ topic: outTopic, key: ctx.key, value: { id: ctx.record.id } });
        }),
      ],
      deadLetterTopic: false,
    });

  const input = (from: number, count: number): { topic: string; key: string; value: string }[] =>
    Array.from({ length: count }, (_, i) => ({
      topic: inTopic,
      key: `k${String((from + i) % 101)}`,
      value: JSON.stringify({ id: from + i }),
    }));
  const one = member('one');
  const two = member('two');
  let three: GroupMember<Item> | undefined;
  try {
    // Both own partitions before any input, so both have work.
    await waitFor(
      () => one.source.partitions().length > 0 && two.source.partitions().length > 0,
      30_000,
      () => 'members one and two to share the partitions',
    );
    await produceRecords(b, input(0, N / 2));
    await waitFor(
      () => one.counts.ok > 0 && two.counts.ok > 0,
      30_000,
      () => `both members to work (one ${JSON.stringify(one.counts)}, two ${JSON.stringify(two.counts)})`,
    );
    // Three joins: in the first round two gives partitions up, then rejoins for the second round.
    const revokedBefore = two.source.stats.revoked;
    const joining = member('three');
    three = joining;
    await produceRecords(b, input(N / 2, N / 2));
    await waitFor(
      () => two.source.stats.revoked > revokedBefore,
      30_000,
      () => 'member two to give up partitions to member three',
    );
    const gaps = eventLoopGaps();
    await two.source.stop();
    const longestGapMs = gaps.stop();
    expect(await two.done).toEqual(two.counts);
    expect(longestGapMs, 'longest event-loop stall while member two stopped (ms)').toBeLessThan(1000);
    await waitFor(
      () => one.counts.ok + two.counts.ok + joining.counts.ok >= N,
      45_000,
      () => `all ${String(N)} records (one ${String(one.counts.ok)}, two ${String(two.counts.ok)})`,
    );
  } finally {
    await Promise.all([one.source.stop(), two.source.stop(), three?.source.stop()]);
  }
  await Promise.all([one.done, three.done]);

  const out = await readBack([outTopic], { expected: N });
  const ids = out.map((record) => json(record, Item).id);
  expect(duplicates(ids)).toEqual([]);
  expect(ids.sort((x, y) => x - y)).toEqual(Array.from({ length: N }, (_, i) => i));
  expect(one.counts.ok + two.counts.ok + three.counts.ok).toBe(N);
});
