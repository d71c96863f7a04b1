import fc from 'fast-check';
import { concatMap, defer, from, map, of, tap, timer, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { observableMatcher } from '@rxkafka/testing';
import { mergeMapByKey, PoolGauges } from './merge-map-by-key.js';

interface Item {
  /** `undefined`: no ordering constraint. */
  readonly key: number | undefined;
  /** Frames between the previous item's arrival and this one's (0: same frame). */
  readonly gap: number;
  /** Frames the inner runs; 0 means it completes synchronously (`of`). */
  readonly duration: number;
}

interface Case {
  readonly items: readonly Item[];
  readonly concurrency: number;
}

interface Trace {
  readonly arrivals: number[];
  readonly starts: number[];
  readonly ends: number[];
  /** Item indices in emission order. */
  readonly outputs: number[];
  readonly maxLive: number;
  /** Set when two inners of one key were ever alive together. */
  readonly keyOverlap: boolean;
  readonly completedAt: number | undefined;
  readonly error: unknown;
  readonly gauges: PoolGauges;
}

const itemArb: fc.Arbitrary<Item> = fc.record({
  key: fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined, freq: 5 }),
  gap: fc.integer({ min: 0, max: 3 }),
  duration: fc.integer({ min: 0, max: 8 }),
});

const caseArb = (maxConcurrency: number): fc.Arbitrary<Case> =>
  fc.record({
    items: fc.array(itemArb, { maxLength: 40 }),
    concurrency: fc.integer({ min: 1, max: maxConcurrency }),
  });

const RUNS = { numRuns: 150 };

/** Runs one case in virtual time, recording arrival, start and end frames of every item. */
function simulate({ items, concurrency }: Case): Trace {
  const scheduler = new TestScheduler(observableMatcher);
  const gauges = new PoolGauges();
  const arrivals: number[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  const outputs: number[] = [];
  const liveByKey = new Map<number, number>();
  let live = 0;
  let maxLive = 0;
  let keyOverlap = false;
  let completedAt: number | undefined;
  let error: unknown;

  const itemAt = (index: number): Item => {
    const item = items[index];
    if (item === undefined) throw new Error(`test bug: no item ${String(index)}`);
    return item;
  };

  const project = (index: number): Observable<number> =>
    defer(() => {
      const { key, duration } = itemAt(index);
      starts[index] = scheduler.now();
      live++;
      maxLive = Math.max(maxLive, live);
      if (key !== undefined) {
        const sameKey = (liveByKey.get(key) ?? 0) + 1;
        if (sameKey > 1) keyOverlap = true;
        liveByKey.set(key, sameKey);
      }
      const body = duration === 0 ? of(index) : timer(duration).pipe(map(() => index));
      // `tap` sees completion before mergeMapByKey does, so a worker is counted free before it is reused.
      return body.pipe(
        tap({
          complete: () => {
            ends[index] = scheduler.now();
            live--;
            if (key !== undefined) liveByKey.set(key, (liveByKey.get(key) ?? 1) - 1);
          },
        }),
      );
    });

  scheduler.run(() => {
    from(items.map((_, index) => index))
      .pipe(
        concatMap((index) => timer(itemAt(index).gap).pipe(map(() => index))),
        tap((index) => {
          arrivals[index] = scheduler.now();
        }),
        mergeMapByKey((index: number) => itemAt(index).key, project, {
          concurrency,
          gauges,
        }),
      )
      .subscribe({
        next: (index) => outputs.push(index),
        error: (e: unknown) => {
          error = e;
        },
        complete: () => {
          completedAt = scheduler.now();
        },
      });
  });

  return {
    arrivals,
    starts,
    ends,
    outputs,
    maxLive,
    keyOverlap,
    completedAt,
    error,
    gauges,
  };
}

/** Indices of the items with `key`, in input order. */
function indicesOfKey(items: readonly Item[], key: number): number[] {
  return items.flatMap((item, index) => (item.key === key ? [index] : []));
}

function frame(frames: readonly number[], index: number): number {
  const value = frames[index];
  if (value === undefined) throw new Error(`no frame recorded for item ${String(index)}`);
  return value;
}

describe('mergeMapByKey properties (virtual time, random keys and durations)', () => {
  it('(a) per key: outputs in input order, and inners of one key never overlap', () => {
    fc.assert(
      fc.property(caseArb(5), (testCase) => {
        const trace = simulate(testCase);
        expect(trace.error).toBeUndefined();
        expect(trace.keyOverlap).toBe(false);
        for (let key = 0; key <= 5; key++) {
          const expectedOrder = indicesOfKey(testCase.items, key);
          const outputOrder = trace.outputs.filter((index) => testCase.items[index]?.key === key);
          expect(outputOrder).toEqual(expectedOrder);
          for (let i = 1; i < expectedOrder.length; i++) {
            const previous = expectedOrder[i - 1] ?? -1;
            const current = expectedOrder[i] ?? -1;
            expect(frame(trace.ends, previous)).toBeLessThanOrEqual(frame(trace.starts, current));
          }
        }
      }),
      RUNS,
    );
  });

  it('(b) concurrently active inners never exceed the limit', () => {
    fc.assert(
      fc.property(caseArb(5), (testCase) => {
        const trace = simulate(testCase);
        expect(trace.maxLive).toBeLessThanOrEqual(testCase.concurrency);
        expect(trace.gauges.peakActive).toBeLessThanOrEqual(testCase.concurrency);
        expect(trace.gauges.peakActive).toBe(trace.maxLive);
      }),
      RUNS,
    );
  });

  it('(c) every input yields its output exactly once, and the stream completes', () => {
    fc.assert(
      fc.property(caseArb(5), (testCase) => {
        const trace = simulate(testCase);
        expect(trace.error).toBeUndefined();
        expect([...trace.outputs].sort((x, y) => x - y)).toEqual(testCase.items.map((_, index) => index));
        expect(trace.completedAt).toBeDefined();
        // Completion comes no earlier than the last inner's end.
        const lastEnd = Math.max(0, ...trace.ends);
        expect(trace.completedAt).toBeGreaterThanOrEqual(lastEnd);
      }),
      RUNS,
    );
  });

  it('(d) the gauges return to zero after completion', () => {
    fc.assert(
      fc.property(caseArb(5), (testCase) => {
        const { gauges, completedAt } = simulate(testCase);
        expect(completedAt).toBeDefined();
        expect(gauges.active).toBe(0);
        expect(gauges.queued).toBe(0);
        expect(gauges.keys).toBe(0);
        expect(gauges.peakQueued).toBeLessThanOrEqual(testCase.items.length);
      }),
      RUNS,
    );
  });

  it('(e) with workers to spare, an item starts exactly when it arrives or when its key predecessor ends', () => {
    fc.assert(
      fc.property(fc.array(itemArb, { maxLength: 40 }), (items) => {
        const trace = simulate({
          items,
          concurrency: Math.max(1, items.length),
        });
        const previousOfKey = new Map<number, number>();
        items.forEach((item, index) => {
          const arrival = frame(trace.arrivals, index);
          const previous = item.key === undefined ? undefined : previousOfKey.get(item.key);
          const ready = previous === undefined ? arrival : Math.max(arrival, frame(trace.ends, previous));
          expect(frame(trace.starts, index)).toBe(ready);
          if (item.key !== undefined) previousOfKey.set(item.key, index);
        });
      }),
      RUNS,
    );
  });
});
