import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Backpressure } from './backpressure.js';
import type { ConsumerSession } from './consumer-session.js';
import { Assignment, PartitionState } from './partition-state.js';

/**
 * Two assigned partitions, `maxHeldBack` 100 (a share is 50 records) and `maxInFlight` 200 (a share is
 * 100), with shares applying as in key mode. `stats` counts what the dispatcher hands downstream.
 */
function setup(): {
  readonly backpressure: Backpressure<unknown, unknown>;
  readonly hot: PartitionState;
  readonly cold: PartitionState;
  readonly stats: { inFlight: number; waiting: number; inFlightBytes: number; waitingBytes: number };
} {
  const assignment = new Assignment();
  const hot = new PartitionState('orders', 0);
  assignment.add(hot);
  const cold = new PartitionState('orders', 1);
  assignment.add(cold);
  const stats = { inFlight: 0, waiting: 0, inFlightBytes: 0, waitingBytes: 0 };
  const session = {
    assignment,
    stats,
    source: { sharesInFlight: true },
    settings: { maxHeldBack: 100, pauseAfter: 1000, maxInFlight: 200, maxInFlightBytes: 1e9, maxUncommitted: 1e9 },
  };
  return { backpressure: new Backpressure(session as unknown as ConsumerSession<unknown, unknown>), hot, cold, stats };
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

describe('maxInFlight counts records done behind an unfinished older one', () => {
  it('is full once in flight plus held back reach it, and has room again when the head finishes', () => {
    const { backpressure, hot, stats } = setup();
    const head = holdBehindHead(hot, 121);
    stats.inFlight = 80;
    backpressure.sumHeldBack();
    expect(backpressure.recordsHeld()).toBe(200);
    expect(backpressure.isFull()).toBe(true);
    expect(backpressure.hasRoomInFlight()).toBe(false);
    hot.offsets.done(head);
    backpressure.sumHeldBack();
    expect(backpressure.recordsHeld()).toBe(80);
    expect(backpressure.isFull()).toBe(false);
    expect(backpressure.hasRoomInFlight()).toBe(true);
  });

  it("puts a partition over its share of maxInFlight with its held-back records, without touching the other's", () => {
    const { backpressure, hot, cold } = setup();
    holdBehindHead(cold, 10);
    const head = holdBehindHead(hot, 100);
    // 1 in flight (the head) + 99 held back: the share of 200 / 2.
    expect(backpressure.overShare(hot)).toBe(true);
    expect(backpressure.overShare(cold)).toBe(false);
    hot.offsets.done(head);
    expect(backpressure.overShare(hot)).toBe(false);
  });
});
