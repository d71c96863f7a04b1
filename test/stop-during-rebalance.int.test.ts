/**
 * A member that stops while the group is rebalancing commits what it finished without blocking the
 * process: a blocking commit sent during a rebalance round is held until the round ends (seconds), and
 * froze every other member and timer of the process meanwhile. Member two stops right after its first
 * revoke, when it has rejoined for the cooperative second round; its records must come out exactly once.
 */
import { expect, test } from 'vitest';
import { produceRecords, type PlainRecord } from '@rxkafka/kafka/admin';
import {
  brokers,
  duplicates,
  type GroupMember,
  IdRecord,
  idRecords,
  json,
  newTopics,
  readBack,
  startGroupMember,
  unique,
  waitFor,
} from './helpers.js';

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

  const member = (name: string): GroupMember =>
    startGroupMember({ name, groupId, topic: inTopic, outTopic, delayMs: () => 1, deadLetterTopic: false });
  const input = (from: number, count: number): PlainRecord[] => idRecords(inTopic, from, count, 101);
  const one = member('one');
  const two = member('two');
  let three: GroupMember | undefined;
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
  const ids = out.map((record) => json(record, IdRecord).id);
  expect(duplicates(ids)).toEqual([]);
  expect(ids.sort((x, y) => x - y)).toEqual(Array.from({ length: N }, (_, i) => i));
  expect(one.counts.ok + two.counts.ok + three.counts.ok).toBe(N);
});
