import { map, mergeMap, Observable, of, Subject, take, type OperatorFunction } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { observableMatcher } from '@rxkafka/testing';
import { QueueOverflowError } from './errors.js';
import { Ready } from './merge-by-key-internals.js';
import { PoolGauges } from './merge-map-by-key.js';
import { unorderedPool } from './unordered-pool.js';

type Projected = Observable<string> | Ready<string>;

/** Values like `s1` finish synchronously (`Ready`); any other value is looked up in `inners`. */
function projectWith(inners: Readonly<Record<string, Observable<string>>>): (value: string) => Projected {
  return (value) => {
    if (value.startsWith('s')) return new Ready(value.toUpperCase());
    const inner = inners[value];
    if (inner === undefined) throw new Error(`test bug: no inner for ${value}`);
    return inner;
  };
}

function pool(concurrency: number, gauges = new PoolGauges(), maxQueued = 10_000) {
  return { concurrency, maxQueued, gauges };
}

describe('unorderedPool', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  // What mergeMap does with the same projections (Ready as `of`): the pool must not differ from it.
  const operators: [string, (project: (value: string) => Projected) => OperatorFunction<string, string>][] = [
    ['unorderedPool', (project) => unorderedPool(project, pool(2))],
    [
      'mergeMap (reference)',
      (project) =>
        mergeMap((value: string) => {
          const projected = project(value);
          return projected instanceof Ready ? of(projected.value) : projected;
        }, 2),
    ],
  ];

  // Marble values are single characters: x, y and z stand for the synchronous s1, s2 and s3.
  const values = { x: 's1', y: 's2', z: 's3', a: 'a', b: 'b', c: 'c' };
  const outputs = { x: 'S1', y: 'S2', z: 'S3', A: 'A', B: 'B', C: 'C' };

  it.each(operators)('%s: runs at most `concurrency` records, synchronous ones included', (_name, operator) => {
    testScheduler.run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      // x finishes at once (workers free); y and z arrive while a and b hold both workers, and wait.
      const source = hot('-xabyz-------c--|', values);
      const a = cold('      ---A|');
      const b = cold('       ---B|');
      const c = cold('                  -C|');
      const expected = '  -x---A(yzB)---C-|';

      expectObservable(source.pipe(operator(projectWith({ a, b, c })))).toBe(expected, outputs);
      expectSubscriptions(a.subscriptions).toBe('--^---!');
      expectSubscriptions(b.subscriptions).toBe('---^---!');
      expectSubscriptions(c.subscriptions).toBe('-------------^-!');
    });
  });

  it.each(operators)('%s: completes once the last running record has finished', (_name, operator) => {
    testScheduler.run(({ hot, cold, expectObservable }) => {
      const source = hot('-ax|', values);
      const a = cold('     ----A|');
      expectObservable(source.pipe(operator(projectWith({ a })))).toBe('--x--A|', outputs);
    });
  });

  it('keeps its gauges: workers taken, values waiting, and their peaks', () => {
    const gauges = new PoolGauges();
    testScheduler.run(({ hot, cold, expectObservable }) => {
      const source = hot('-abx|', values);
      const a = cold('     ---A|');
      const b = cold('         ---B|');
      expectObservable(source.pipe(unorderedPool(projectWith({ a, b }), pool(1, gauges)))).toBe(
        '----A---B(x|)',
        outputs,
      );
      testScheduler.schedule(() => {
        expect(gauges).toMatchObject({ active: 1, queued: 2 });
      }, 3.5);
    });
    expect(gauges).toMatchObject({ active: 0, queued: 0, peakActive: 1, peakQueued: 2 });
  });

  it('handles values a projection makes its source emit (re-entrant) after it, within the limit', () => {
    const source = new Subject<string>();
    const release = new Subject<string>();
    const gauges = new PoolGauges();
    const started: string[] = [];
    const project = (value: string): Projected => {
      started.push(value);
      // The first projection makes the source emit two more values before it returns.
      if (value === 'a') {
        source.next('s1');
        source.next('b');
      }
      if (value.startsWith('s')) return new Ready(value.toUpperCase());
      return value === 'a'
        ? release.pipe(
            take(1),
            map(() => value),
          )
        : of(value);
    };
    const out: string[] = [];
    source.pipe(unorderedPool(project, pool(1, gauges))).subscribe((value) => out.push(value));

    source.next('a');
    // `a` holds the only worker: s1 and b wait for it instead of running inside its projection.
    expect(started).toEqual(['a']);
    expect(gauges).toMatchObject({ active: 1, queued: 2, peakActive: 1 });
    release.next('go');
    expect(out).toEqual(['a', 'S1', 'b']);
    expect(started).toEqual(['a', 's1', 'b']);
    expect(gauges.peakActive).toBe(1);
  });

  it('cancels a record that went asynchronous while the stream was torn down in its projection', () => {
    let cancelled = 0;
    const inner = new Observable<string>(() => () => {
      cancelled++;
    });
    const source = new Subject<string>();
    const subscription = source
      .pipe(
        unorderedPool(() => {
          // The consumer gives up while the record is being started.
          subscription.unsubscribe();
          return inner;
        }, pool(1)),
      )
      .subscribe();
    source.next('a');
    // It was started, so it is cancelled like a running record (runChain's then run its defers).
    expect(cancelled).toBe(1);
  });

  it('fails the stream with QueueOverflowError when more values wait than maxQueued', () => {
    testScheduler.run(({ hot, cold, expectObservable }) => {
      const source = hot('-abc|');
      const a = cold('    -----A|');
      expectObservable(source.pipe(unorderedPool(projectWith({ a, b: a, c: a }), pool(1, new PoolGauges(), 1)))).toBe(
        '---#',
        undefined,
        new QueueOverflowError(1),
      );
    });
  });

  it('fails the stream when a projection throws', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const source = hot('-a|');
      expectObservable(source.pipe(unorderedPool(projectWith({}), pool(1)))).toBe(
        '-#',
        undefined,
        new Error('test bug: no inner for a'),
      );
    });
  });
});
