import { Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { observableMatcher } from '@rxkafka/testing';
import { abortWhen } from './abort-when.js';
import { AbortedError } from './errors.js';

describe('abortWhen', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  it('mirrors the source while the signal is quiet', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b-|');
      expectObservable(source.pipe(abortWhen(new AbortController().signal))).toBe('-a-b-|');
      expectSubscriptions(source.subscriptions).toBe('^----!');
    });
  });

  it('errors with the abort reason and unsubscribes the source', () => {
    const controller = new AbortController();
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a---b-|');
      testScheduler.schedule(() => controller.abort(new Error('revoked')), 3);
      expectObservable(source.pipe(abortWhen(controller.signal))).toBe(
        '-a-#',
        undefined,
        new AbortedError(new Error('revoked')),
      );
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });

  it('errors at once, without subscribing, when the signal already aborted', () => {
    const controller = new AbortController();
    controller.abort(new Error('shutdown'));
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-|');
      expectObservable(source.pipe(abortWhen(controller.signal))).toBe(
        '#',
        undefined,
        new AbortedError(new Error('shutdown')),
      );
      expectSubscriptions(source.subscriptions).toBe([]);
    });
  });

  it('keeps one listener on the signal however many subscriptions come and go, and none of them after teardown', () => {
    const controller = new AbortController();
    let added = 0;
    let removed = 0;
    const { signal } = controller;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = (...args: Parameters<AbortSignal['addEventListener']>) => {
      added++;
      add(...args);
    };
    signal.removeEventListener = (...args: Parameters<AbortSignal['removeEventListener']>) => {
      removed++;
      remove(...args);
    };
    const errors: unknown[] = [];
    testScheduler.run(({ cold, expectObservable }) => {
      expectObservable(cold('-a|').pipe(abortWhen(signal))).toBe('-a|');
      expectObservable(cold('-a---|').pipe(abortWhen(signal)), '^-!').toBe('-a-');
    });
    expect([added, removed]).toEqual([1, 0]);
    // Finished subscriptions are not called when the signal aborts later; a live one is, once.
    new Observable<never>(() => undefined).pipe(abortWhen(signal)).subscribe({ error: (error) => errors.push(error) });
    controller.abort(new Error('shutdown'));
    expect(errors).toEqual([new AbortedError(new Error('shutdown'))]);
    expect(added).toBe(1);
  });

  it('errors every one of many concurrent subscriptions on one signal when it aborts', () => {
    const controller = new AbortController();
    const errors: unknown[] = [];
    const subscriptions = Array.from({ length: 1000 }, () =>
      new Observable<never>(() => undefined).pipe(abortWhen(controller.signal)).subscribe({
        error: (error) => errors.push(error),
      }),
    );
    subscriptions.slice(0, 400).forEach((subscription) => {
      subscription.unsubscribe();
    });
    controller.abort('revoked');
    expect(errors).toHaveLength(600);
    expect(errors.every((error) => error instanceof AbortedError)).toBe(true);
    // Aborted already: a new subscription errors at once.
    new Observable<never>(() => undefined).pipe(abortWhen(controller.signal)).subscribe({
      error: (error) => errors.push(error),
    });
    expect(errors).toHaveLength(601);
  });
});
