/**
 * A member stopped while it joins the group closes promptly. librdkafka can hand it an assignment after
 * its close has begun; node-rdkafka then refuses `assign`, and librdkafka's close waited for an answer
 * for good: the process hung until killed (seen in the churn scenario, SIGTERM 170 ms after start).
 */
import { expect, test } from 'vitest';
import { produceRecords } from '@rxkafka/kafka/admin';
import { brokers, type GroupMember, idRecords, newTopics, startGroupMember, unique, waitFor } from './helpers.js';

// Well under the 30 s close bound (connectTimeout): a close that only ended by being given up on fails.
const CLOSE_BOUND_MS = 10_000;

/** Stops `member`; resolves with `what` if it did not close within the bound. */
async function closedWithinBound(member: GroupMember, what: string): Promise<string | undefined> {
  void member.source.stop();
  const closed = await Promise.race([
    member.source.closed.then(() => true),
    new Promise<false>((resolve) => setTimeout(resolve, CLOSE_BOUND_MS, false)),
  ]);
  if (!closed) return what;
  await member.done;
  return undefined;
}

test('members stopped at any moment of their first join close well within the bound', async () => {
  const inTopic = unique('stop-join-in');
  const outTopic = unique('stop-join-out');
  await newTopics([
    { topic: inTopic, partitions: 6 },
    { topic: outTopic, partitions: 6 },
  ]);
  await produceRecords(brokers(), idRecords(inTopic, 0, 600, 50));
  const groupId = unique('stop-join');
  const member = (name: string) =>
    startGroupMember({ name, groupId, topic: inTopic, outTopic, delayMs: () => 1, deadLetterTopic: false });
  const steady = member('steady');
  try {
    await waitFor(
      () => steady.source.partitions().length > 0,
      30_000,
      () => 'the steady member to own partitions',
    );
    // From "just subscribed" to "mid-join" to "just assigned". The next joiner starts while the last one
    // is still leaving, so rounds overlap as they do in a churning group.
    const closes: Promise<string | undefined>[] = [];
    for (const delayMs of [0, 5, 20, 50, 100, 170, 300, 600, 1000, 2000]) {
      const joiner = member(`joiner-${String(delayMs)}`);
      await waitFor(
        () => joiner.source.state === 'running',
        30_000,
        () => `joiner ${String(delayMs)} to connect`,
      );
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      closes.push(closedWithinBound(joiner, `joiner stopped ${String(delayMs)} ms after subscribing`));
    }
    expect((await Promise.all(closes)).filter((late) => late !== undefined)).toEqual([]);
  } finally {
    await steady.source.stop();
  }
  await steady.done;
});
