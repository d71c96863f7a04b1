import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PartitionOffsets } from './partition-offsets.js';

describe('PartitionOffsets', () => {
  it('commits only past the highest contiguous done offset', () => {
    const offsets = new PartitionOffsets();
    for (const offset of [10, 11, 12, 13]) offsets.track(offset);
    expect(offsets.done(12)).toBe(false);
    expect(offsets.uncommitted).toBeUndefined();
    expect(offsets.done(10)).toBe(true);
    expect(offsets.uncommitted).toBe(11);
    expect(offsets.done(11)).toBe(true);
    expect(offsets.uncommitted).toBe(13);
    offsets.markCommitted(13);
    expect(offsets.uncommitted).toBeUndefined();
    expect(offsets.inFlight).toBe(1);
  });

  it('handles gaps in offsets (compaction, transaction markers)', () => {
    const offsets = new PartitionOffsets();
    for (const offset of [3, 7, 8]) offsets.track(offset);
    offsets.done(7);
    expect(offsets.uncommitted).toBeUndefined();
    offsets.done(3);
    expect(offsets.uncommitted).toBe(8);
  });

  it('never moves past a released (aborted) record', () => {
    const offsets = new PartitionOffsets();
    for (const offset of [0, 1, 2]) offsets.track(offset);
    offsets.release(1);
    offsets.done(0);
    offsets.done(2);
    expect(offsets.committable).toBe(1);
    expect(offsets.inFlight).toBe(0);
  });

  it('ignores a second completion of the same offset', () => {
    const offsets = new PartitionOffsets();
    offsets.track(0);
    offsets.track(1);
    expect(offsets.done(0)).toBe(true);
    expect(offsets.done(0)).toBe(false);
    expect(offsets.inFlight).toBe(1);
  });

  it('property: for any completion order the commit point is the first unfinished offset', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.nat({ max: 10_000 }), { minLength: 1, maxLength: 200 }).map((xs) => xs.sort((a, b) => a - b)),
        fc.func(fc.nat()),
        fc.nat(),
        (fetched, rank, cut) => {
          const offsets = new PartitionOffsets();
          for (const offset of fetched) offsets.track(offset);
          // A random subset of the fetched records, completed in a random order.
          const order = [...fetched].sort((a, b) => rank(a) - rank(b) || a - b).slice(0, cut % (fetched.length + 1));
          const finished = new Set<number>();
          for (const offset of order) {
            offsets.done(offset);
            finished.add(offset);
            const firstUnfinished = fetched.find((o) => !finished.has(o));
            const lastContiguous = [...fetched].filter((o) => firstUnfinished === undefined || o < firstUnfinished).pop();
            // Never past an unfinished record; always as far as the contiguous prefix allows.
            expect(offsets.committable).toBe(lastContiguous === undefined ? undefined : lastContiguous + 1);
            if (firstUnfinished !== undefined && offsets.committable !== undefined) {
              expect(offsets.committable).toBeLessThanOrEqual(firstUnfinished);
            }
          }
          expect(offsets.inFlight).toBe(fetched.length - finished.size);
        },
      ),
      { numRuns: 300 },
    );
  });
});
