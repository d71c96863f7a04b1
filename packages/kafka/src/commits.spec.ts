import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Commits } from './commits.js';
import type { ConsumerSession } from './consumer-session.js';
import { KafkaError } from './errors.js';
import { Assignment, PartitionState } from './partition-state.js';
import type { TopicPartitionOffset } from './rdkafka.js';

const stale = (): KafkaError =>
  new KafkaError(
    'commit: Broker: Specified group generation id is not valid',
    'ERR_ILLEGAL_GENERATION',
    22,
    false,
    false,
  );

/** A session with one partition whose offsets 0..4 completed, and a consumer that records its commits. */
function setup(): {
  readonly commits: Commits<unknown, unknown>;
  readonly part: PartitionState;
  readonly sent: TopicPartitionOffset[][];
  readonly session: { tornDown: boolean; stats: { commits: number; commitErrors: number } };
} {
  const assignment = new Assignment();
  const part = new PartitionState('orders', 0);
  assignment.add(part);
  for (let offset = 0; offset < 5; offset++) part.offsets.done(part.offsets.track(offset));
  const sent: TopicPartitionOffset[][] = [];
  const session = {
    assignment,
    tornDown: false,
    stats: { commits: 0, commitErrors: 0 },
    settings: { groupId: 'g', commitInterval: 5000, commitEvery: 1000 },
    backpressure: { room: () => undefined },
    consumer: {
      commit: (offsets: TopicPartitionOffset[]) => sent.push(offsets),
    },
  };
  const commits = new Commits(session as unknown as ConsumerSession<unknown, unknown>);
  return { commits, part, sent, session };
}

describe('Commits.commitAndWait', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends an asynchronous commit and settles only when its result arrives', async () => {
    const { commits, part, sent, session } = setup();
    let settled = false;
    const done = commits.commitAndWait([part], 10_000, true).then(() => (settled = true));
    expect(sent).toEqual([[{ topic: 'orders', partition: 0, offset: 5 }]]);
    await vi.advanceTimersByTimeAsync(5000);
    expect(settled).toBe(false);
    commits.committed(undefined, sent[0] ?? []);
    await done;
    expect(part.offsets.uncommitted).toBeUndefined();
    expect(session.stats.commits).toBe(1);
  });

  it('retries a commit refused as stale until the member has rejoined, when asked to', async () => {
    const { commits, part, sent, session } = setup();
    const done = commits.commitAndWait([part], 10_000, true);
    commits.committed(stale(), sent[0] ?? []);
    await vi.advanceTimersByTimeAsync(50);
    expect(sent).toHaveLength(2);
    commits.committed(stale(), sent[1] ?? []);
    await vi.advanceTimersByTimeAsync(100);
    expect(sent).toHaveLength(3);
    commits.committed(undefined, sent[2] ?? []);
    await done;
    expect(part.offsets.uncommitted).toBeUndefined();
    expect(session.stats).toEqual({ commits: 1, commitErrors: 2 });
  });

  it('gives up on a stale refusal at once when not asked to wait for a rejoin (a revoke)', async () => {
    const { commits, part, sent } = setup();
    const done = commits.commitAndWait([part], 10_000, false);
    commits.committed(stale(), sent[0] ?? []);
    await done;
    expect(sent).toHaveLength(1);
    expect(part.offsets.uncommitted).toBe(5);
  });

  it('waits for a periodic commit already in flight, then commits what it did not cover', async () => {
    const { commits, part, sent } = setup();
    commits.commitAsync();
    part.offsets.done(part.offsets.track(5));
    const done = commits.commitAndWait([part], 10_000, true);
    expect(sent).toHaveLength(1);
    commits.committed(undefined, sent[0] ?? []);
    await vi.advanceTimersByTimeAsync(0);
    expect(sent[1]).toEqual([{ topic: 'orders', partition: 0, offset: 6 }]);
    commits.committed(undefined, sent[1] ?? []);
    await done;
    expect(part.offsets.uncommitted).toBeUndefined();
  });

  it('gives up once withinMs has passed without a result, counted as a failed commit', async () => {
    const { commits, part, session } = setup();
    let settled = false;
    const done = commits.commitAndWait([part], 10_000, true).then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(9999);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await done;
    expect(session.stats.commitErrors).toBe(1);
    expect(part.offsets.uncommitted).toBe(5);
  });

  it('keeps retrying a stale refusal no longer than withinMs', async () => {
    const { commits, part, sent } = setup();
    const progress = { settled: false };
    const done = commits.commitAndWait([part], 2000, true).then(() => (progress.settled = true));
    while (!progress.settled && sent.length < 100) {
      commits.committed(stale(), sent.at(-1) ?? []);
      await vi.advanceTimersByTimeAsync(500);
    }
    await done;
    expect(performance.now()).toBeLessThanOrEqual(2500);
    expect(part.offsets.uncommitted).toBe(5);
  });

  it('does not wait for the result of a commit that threw when sent', async () => {
    const { commits, part, session } = setup();
    (session as unknown as { consumer: { commit: () => never } }).consumer.commit = () => {
      throw new KafkaError('commit: Local: Erroneous state', 'ERR__STATE', -172, false, false);
    };
    await commits.commitAndWait([part], 10_000, true);
    expect(performance.now()).toBe(0);
    expect(session.stats.commitErrors).toBe(1);
  });

  it('is released at once when the session tears down', async () => {
    const { commits, part, session } = setup();
    const done = commits.commitAndWait([part], 10_000, true);
    session.tornDown = true;
    commits.cancel();
    await done;
    expect(performance.now()).toBe(0);
  });
});
