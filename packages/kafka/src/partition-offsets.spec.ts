import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PartitionOffsets } from './partition-offsets.js';

describe('PartitionOffsets', () => {
  it('commits only past the highest contiguous done offset', () => {
    const offsets = new PartitionOffsets();
    const [t10, t11, t12] = [10, 11, 12, 13].map((offset) => offsets.track(offset));
    expect(offsets.done(t12!)).toBe(false);
    expect(offsets.uncommitted).toBeUndefined();
    expect(offsets.done(t10!)).toBe(true);
    expect(offsets.uncommitted).toBe(11);
    expect(offsets.done(t11!)).toBe(true);
    expect(offsets.uncommitted).toBe(13);
    offsets.markCommitted(13);
    expect(offsets.uncommitted).toBeUndefined();
    expect(offsets.inFlight).toBe(1);
  });

  it('handles gaps in offsets (compaction, transaction markers)', () => {
    const offsets = new PartitionOffsets();
    const [t3, t7] = [3, 7, 8].map((offset) => offsets.track(offset));
    offsets.done(t7!);
    expect(offsets.uncommitted).toBeUndefined();
    offsets.done(t3!);
    expect(offsets.uncommitted).toBe(8);
  });

  it('never moves past a released (aborted) record', () => {
    const offsets = new PartitionOffsets();
    const [t0, t1, t2] = [0, 1, 2].map((offset) => offsets.track(offset));
    offsets.release(t1!);
    offsets.done(t0!);
    offsets.done(t2!);
    expect(offsets.committable).toBe(1);
    expect(offsets.inFlight).toBe(0);
  });

  it('names the head-of-line record and counts the completed records held back behind it', () => {
    const offsets = new PartitionOffsets();
    expect(offsets.head).toBeUndefined();
    const [t0, t1, t2, t3] = [0, 1, 2, 3].map((offset) => offsets.track(offset));
    expect(offsets.head).toEqual({ offset: 0, ticket: t0, released: false });
    offsets.done(t2!);
    offsets.done(t3!);
    expect(offsets.heldBack).toBe(2);
    offsets.done(t0!);
    expect(offsets.head).toEqual({ offset: 1, ticket: t1, released: false });
    expect(offsets.heldBack).toBe(2);
    offsets.release(t1!);
    expect(offsets.head).toMatchObject({ offset: 1, released: true });
    expect(offsets.heldBack).toBe(2);
    const t4 = offsets.track(4);
    offsets.done(t4);
    expect(offsets.heldBack).toBe(3);
  });

  it('holds nothing back once every record is done', () => {
    const offsets = new PartitionOffsets();
    const tickets = [5, 6, 7].map((offset) => offsets.track(offset));
    for (const ticket of tickets.reverse()) offsets.done(ticket);
    expect(offsets.heldBack).toBe(0);
    expect(offsets.head).toBeUndefined();
    expect(offsets.committable).toBe(8);
  });

  it('counts the records a crash would replay: everything tracked and not covered by a commit', () => {
    const offsets = new PartitionOffsets();
    const tickets = [10, 11, 12, 13, 14].map((offset) => offsets.track(offset));
    expect(offsets.uncommittedCount).toBe(5);
    offsets.done(tickets[0]!);
    offsets.done(tickets[1]!);
    offsets.done(tickets[3]!);
    expect(offsets.uncommittedCount).toBe(5);
    offsets.markCommitted(offsets.committable!);
    expect(offsets.uncommittedCount).toBe(3);
    offsets.markCommitted(11); // a stale result changes nothing
    expect(offsets.uncommittedCount).toBe(3);
    offsets.done(tickets[2]!);
    offsets.done(tickets[4]!);
    offsets.markCommitted(15);
    expect(offsets.uncommittedCount).toBe(0);
  });

  it('keeps counting right across compaction', () => {
    const offsets = new PartitionOffsets();
    const tickets = Array.from({ length: 5000 }, (_, i) => offsets.track(i));
    for (const ticket of tickets.slice(0, 4000)) offsets.done(ticket);
    expect(offsets.uncommittedCount).toBe(5000);
    offsets.markCommitted(offsets.committable!);
    expect(offsets.uncommittedCount).toBe(1000);
    for (const ticket of tickets.slice(4000)) offsets.done(ticket);
    offsets.markCommitted(5000);
    expect(offsets.uncommittedCount).toBe(0);
  });

  it('ignores a second completion of the same offset', () => {
    const offsets = new PartitionOffsets();
    const first = offsets.track(0);
    offsets.track(1);
    expect(offsets.done(first)).toBe(true);
    expect(offsets.done(first)).toBe(false);
    expect(offsets.inFlight).toBe(1);
  });

  it('property: for any completion order the commit point is the first unfinished offset', () => {
    fc.assert(
      fc.property(
        fc
          .uniqueArray(fc.nat({ max: 100_000 }), { minLength: 1, maxLength: 3000 })
          .map((xs) => xs.sort((a, b) => a - b)),
        fc.func(fc.nat()),
        fc.nat(),
        (fetched, rank, cut) => {
          const offsets = new PartitionOffsets();
          const tickets = new Map(fetched.map((offset) => [offset, offsets.track(offset)]));
          // A random subset of the fetched records, completed in a random order.
          const order = [...fetched].sort((a, b) => rank(a) - rank(b) || a - b).slice(0, cut % (fetched.length + 1));
          const finished = new Set<number>();
          for (const offset of order) {
            offsets.done(tickets.get(offset)!);
            finished.add(offset);
            const firstUnfinished = fetched.find((o) => !finished.has(o));
            const lastContiguous = [...fetched]
              .filter((o) => firstUnfinished === undefined || o < firstUnfinished)
              .pop();
            // Never past an unfinished record; always as far as the contiguous prefix allows.
            expect(offsets.committable).toBe(lastContiguous === undefined ? undefined : lastContiguous + 1);
            if (firstUnfinished !== undefined && offsets.committable !== undefined) {
              expect(offsets.committable).toBeLessThanOrEqual(firstUnfinished);
            }
          }
          expect(offsets.inFlight).toBe(fetched.length - finished.size);
        },
      ),
      { numRuns: 200 },
    );
  });
});
