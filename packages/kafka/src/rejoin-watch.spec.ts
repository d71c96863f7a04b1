import { describe, expect, test } from 'vitest';
import { rejoinBoundMs, RejoinWatch } from './rejoin-watch.js';

describe('RejoinWatch', () => {
  test('is quiet while the member keeps its assignment', () => {
    const watch = new RejoinWatch(1000);
    expect(watch.overdue(0, true)).toBeUndefined();
    expect(watch.overdue(1_000_000, true)).toBeUndefined();
  });

  test('is overdue once the assignment was lost and none came back within the bound', () => {
    const watch = new RejoinWatch(1000);
    watch.lost(100);
    expect(watch.overdue(1099, true)).toBeUndefined();
    expect(watch.overdue(1100, true)).toBe(1000);
  });

  test('does not count while partitions are still held or being revoked', () => {
    const watch = new RejoinWatch(1000);
    watch.lost(0);
    expect(watch.overdue(5000, false)).toBeUndefined();
    // Overdue as soon as the revoke is done: the clock ran from the loss.
    expect(watch.overdue(5001, true)).toBe(5001);
  });

  test('asks again once per bound, reporting the time since the loss', () => {
    const watch = new RejoinWatch(1000);
    watch.lost(0);
    expect(watch.overdue(1000, true)).toBe(1000);
    expect(watch.overdue(1500, true)).toBeUndefined();
    expect(watch.overdue(2000, true)).toBe(2000);
  });

  test('an assign callback, even an empty one, ends the wait; a later loss starts a new one', () => {
    const watch = new RejoinWatch(1000);
    watch.lost(0);
    watch.assigned();
    expect(watch.overdue(5000, true)).toBeUndefined();
    watch.lost(6000);
    watch.lost(6500);
    expect(watch.overdue(6999, true)).toBeUndefined();
    expect(watch.overdue(7000, true)).toBe(1000);
  });

  test('the bound is three session timeouts, at least 30 s', () => {
    expect(rejoinBoundMs(45_000)).toBe(135_000);
    expect(rejoinBoundMs(6000)).toBe(30_000);
  });
});
