import { finalize, mergeMap, Observable, of, Subscription } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { observableMatcher } from '@rxkafka/testing';
import { innerSubscriptionsInSet } from './inner-subscriptions-in-set.js';

describe('innerSubscriptionsInSet', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  it('leaves mergeMap with a concurrency limit emitting exactly what it emits alone', () => {
    testScheduler.run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-c-d-|');
      const inners = { a: cold('--x|'), b: cold('----y|'), c: cold('-z|'), d: cold('|') };
      const project = (name: string) => inners[name as keyof typeof inners];
      expectObservable(source.pipe(mergeMap(project, 2), innerSubscriptionsInSet())).toBe('---x--zy-|');
      expectObservable(source.pipe(mergeMap(project, 2))).toBe('---x--zy-|');
      expectSubscriptions(inners.a.subscriptions).toBe(['-^--!', '-^--!']);
      expectSubscriptions(inners.b.subscriptions).toBe(['---^----!', '---^----!']);
      // c starts at once: a freed its worker at 4.
      expectSubscriptions(inners.c.subscriptions).toBe(['-----^-!', '-----^-!']);
      expectSubscriptions(inners.d.subscriptions).toBe(['-------(^!)', '-------(^!)']);
    });
  });

  it('passes an inner error on and unsubscribes the source and the other inners', () => {
    testScheduler.run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b---|');
      const inners = { a: cold('------x|'), b: cold('--#', undefined, new Error('boom')) };
      const merged = source.pipe(
        mergeMap((name) => inners[name as keyof typeof inners], 4),
        innerSubscriptionsInSet(),
      );
      expectObservable(merged).toBe('-----#', undefined, new Error('boom'));
      expectSubscriptions(source.subscriptions).toBe('^----!');
      expectSubscriptions(inners.a.subscriptions).toBe('-^---!');
    });
  });

  it('unsubscribes every inner still running when the subscriber downstream leaves', () => {
    testScheduler.run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-c-|');
      const inner = cold('-----x|');
      const merged = source.pipe(
        mergeMap(() => inner, 8),
        innerSubscriptionsInSet(),
      );
      expectObservable(merged, '^---!').toBe('-----');
      expectSubscriptions(source.subscriptions).toBe('^---!');
      expectSubscriptions(inner.subscriptions).toBe(['-^--!', '---^!']);
    });
  });

  it('finalizes each inner once, whether it finished or was cut off, over many of them', () => {
    let finalized = 0;
    const running: (() => void)[] = [];
    const records = new Observable<number>((subscriber) => {
      for (let i = 0; i < 5000; i++) subscriber.next(i);
    });
    const subscription = records
      .pipe(
        mergeMap(
          () =>
            new Observable<number>((inner) => {
              running.push(() => {
                inner.next(1);
                inner.complete();
              });
            }).pipe(
              finalize(() => {
                finalized++;
              }),
            ),
          5000,
        ),
        innerSubscriptionsInSet(),
      )
      .subscribe();
    // Finish the oldest first, as timers do: the order an array pays for most.
    for (const finish of running.slice(0, 4000)) finish();
    expect(finalized).toBe(4000);
    subscription.unsubscribe();
    expect(finalized).toBe(5000);
    expect(subscription.closed).toBe(true);
  });

  it('runs a teardown added after it closed at once, and ignores one already closed', () => {
    let ran = 0;
    const subscription = of(1).pipe(innerSubscriptionsInSet()).subscribe();
    expect(subscription.closed).toBe(true);
    subscription.add(() => {
      ran++;
    });
    const late = new Subscription(() => {
      ran++;
    });
    subscription.add(late);
    expect(ran).toBe(2);
    expect(late.closed).toBe(true);
  });
});
