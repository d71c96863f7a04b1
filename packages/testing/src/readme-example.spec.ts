// The README's marble-testing example, kept compiling and passing.
import { map } from 'rxjs';
import { expect, it } from 'vitest';
import { handler, runChain } from '@rxkafka/core';
import { marbles, testContext } from './index.js';

it('times out a slow lookup and releases its resource', () => {
  const released: string[] = [];
  marbles(({ cold, expectObservable, expectSubscriptions }) => {
    const lookup = cold('-----x|'); // a 5 ms call
    const enrich = handler('enrich', (ctx) => {
      ctx.defer((end) => void released.push(end));
      return lookup;
    });
    const outcomes = cold('(a|)', { a: testContext({ id: 'o1' }) }).pipe(
      runChain([enrich], { timeout: 3 }),
      map((o) => o.kind),
    );
    expectObservable(outcomes).toBe('---(t|)', { t: 'timeout' });
    expectSubscriptions(lookup.subscriptions).toBe('^--!'); // the late result is discarded
  });
  expect(released).toEqual(['timeout']);
});
