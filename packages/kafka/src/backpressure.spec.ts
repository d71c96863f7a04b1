import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Backpressure } from './backpressure.js';
import type { ConsumerSession } from './consumer-session.js';
import { Assignment, PartitionState } from './partition-state.js';

/** Two assigned partitions and the settings `maxHeldBack` reads: a share is 100 / 2 = 50 records. */
function setup(): { readonly backpressure: Backpressure<unknown, unknown>; readonly hot: PartitionState } {
  const assignment = new Assignment();
  const hot = new PartitionState('orders', 0);
  assignment.add(hot);
  assignment.add(new PartitionState('orders', 1));
  const session = { assignment, settings: { maxHeldBack: 100, pauseAfter: 1000 } };
  return { backpressure: new Backpressure(session as unknown as ConsumerSession<unknown, unknown>), hot };
}

/** Tracks n offsets from `from` and completes all but the first, the head: n - 1 records wait behind it. */
function holdBehindHead(part: PartitionState, n: number, from = 0): number {
  const tickets = Array.from({ length: n }, (_, i) => part.offsets.track(from + i));
  for (const ticket of tickets.slice(1)) part.offsets.done(ticket);
  return tickets[0] ?? 0;
}

describe('maxHeldBack', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('holds a partition once it has held its share, with the source at the limit, for pauseAfter', () => {
    const { backpressure, hot } = setup();
    const head = holdBehindHead(hot, 120);
    backpressure.countHeldBack();
    expect(backpressure.holdsBackTooMany(hot)).toBe(false);
    vi.advanceTimersByTime(999);
    backpressure.countHeldBack();
    expect(backpressure.holdsBackTooMany(hot)).toBe(false);
    vi.advanceTimersByTime(1);
    backpressure.countHeldBack();
    expect(backpressure.holdsBackTooMany(hot)).toBe(true);
    // The head finishes: the commit point passes every record behind it, and the hold ends at once.
    hot.offsets.done(head);
    expect(backpressure.holdsBackTooMany(hot)).toBe(false);
  });

  it('does not hold a partition whose share was free at a fetch within pauseAfter (delivery reports catching up)', () => {
    const { backpressure, hot } = setup();
    const head = holdBehindHead(hot, 120);
    backpressure.countHeldBack();
    vi.advanceTimersByTime(600);
    hot.offsets.done(head);
    backpressure.countHeldBack();
    holdBehindHead(hot, 120, 120);
    vi.advanceTimersByTime(600);
    backpressure.countHeldBack();
    expect(backpressure.holdsBackTooMany(hot)).toBe(false);
  });

  it('does not hold while the source as a whole is under the limit, however long a share is held', () => {
    const { backpressure, hot } = setup();
    holdBehindHead(hot, 80);
    backpressure.countHeldBack();
    vi.advanceTimersByTime(5000);
    backpressure.countHeldBack();
    expect(hot.offsets.heldBack).toBe(79);
    expect(backpressure.holdsBackTooMany(hot)).toBe(false);
  });
});
