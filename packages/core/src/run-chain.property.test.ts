import fc from 'fast-check';
import { EMPTY, map, mergeMap, of, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { observableMatcher, testContext } from '@rxkafka/testing';
import type { Context } from './context.js';
import { InvalidRecordError } from './errors.js';
import { BREAK, handler, named, type Handler } from './handler.js';
import { invalidOutcome, type Outcome } from './outcome.js';
import { runChain, type ChainInput, type Ordering } from './run-chain.js';

interface Rec {
  readonly index: number;
}
type State = Record<string, unknown>;
type Ctx = Context<Rec, State>;

/** What a handler does for a record: its form, and how it ends. */
type Step =
  | { readonly form: 'sync'; readonly end: 'continue' | 'break' | 'throw' }
  | { readonly form: 'observable'; readonly frames: number; readonly end: 'continue' | 'break' | 'error' }
  | {
      readonly form: 'thenable';
      readonly frames: number;
      readonly settlements: number;
      readonly end: 'continue' | 'reject';
    }
  | { readonly form: 'operator'; readonly frames: number; readonly end: 'continue' | 'drop' | 'replace' };

interface Item {
  readonly key: number;
  readonly gap: number;
  readonly invalid: boolean;
  readonly steps: readonly Step[];
  /** Defers registered by the first handler; an async one takes this many frames. */
  readonly deferFrames: readonly number[];
}

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ form: fc.constant('sync' as const), end: fc.constantFrom('continue', 'break', 'throw') }),
  fc.record({
    form: fc.constant('observable' as const),
    frames: fc.integer({ min: 0, max: 4 }),
    end: fc.constantFrom('continue', 'break', 'error'),
  }),
  fc.record({
    form: fc.constant('thenable' as const),
    frames: fc.integer({ min: 0, max: 4 }),
    settlements: fc.integer({ min: 1, max: 3 }),
    end: fc.constantFrom('continue', 'reject'),
  }),
  fc.record({
    form: fc.constant('operator' as const),
    frames: fc.integer({ min: 0, max: 4 }),
    end: fc.constantFrom('continue', 'drop', 'replace'),
  }),
);

const itemArb: fc.Arbitrary<Item> = fc.record({
  key: fc.integer({ min: 0, max: 3 }),
  gap: fc.integer({ min: 0, max: 2 }),
  invalid: fc.boolean(),
  steps: fc.array(stepArb, { maxLength: 4 }),
  deferFrames: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }),
});

const caseArb = fc.record({
  items: fc.array(itemArb, { maxLength: 25 }),
  concurrency: fc.integer({ min: 1, max: 6 }),
  ordering: fc.constantFrom<Ordering>('key', 'partition', 'unordered'),
  timeout: fc.option(fc.integer({ min: 1, max: 10 }), { nil: undefined }),
});

interface Trace {
  readonly outcomes: Outcome<Rec, State>[];
  /** Per record: the defers that ran, in order. */
  readonly defersRan: Map<number, number[]>;
  /** Per key: records whose handlers overlapped another record of the key. */
  readonly keyOverlap: boolean;
  /** The most records between their first handler and their last defer at once. */
  readonly peakRunning: number;
  readonly completed: boolean;
  readonly error: unknown;
}

function simulate(items: readonly Item[], concurrency: number, ordering: Ordering, timeout?: number): Trace {
  const scheduler = new TestScheduler(observableMatcher);
  const outcomes: Outcome<Rec, State>[] = [];
  const defersRan = new Map<number, number[]>();
  const runningByKey = new Map<number, number>();
  let keyOverlap = false;
  let running = 0;
  let peakRunning = 0;
  let completed = false;
  let error: unknown;
  scheduler.run(({ cold }) => {
    const delayed = <T>(frames: number, value: T): Observable<T> =>
      frames === 0 ? cold('(v|)', { v: value }) : cold(`${'-'.repeat(frames)}(v|)`, { v: value });
    const itemOf = (ctx: Ctx): Item => items[ctx.record.index] as Item;

    const enter = handler<Rec, State>('enter', (ctx) => {
      const item = itemOf(ctx);
      const live = (runningByKey.get(item.key) ?? 0) + 1;
      if (ordering === 'key' && live > 1) keyOverlap = true;
      runningByKey.set(item.key, live);
      peakRunning = Math.max(peakRunning, ++running);
      // Registered first, so it runs last: the record holds its worker until then.
      ctx.defer(() => {
        running--;
        runningByKey.set(item.key, (runningByKey.get(item.key) ?? 1) - 1);
      });
      item.deferFrames.forEach((frames, position) => {
        ctx.defer(() => {
          const ran = defersRan.get(ctx.record.index) ?? [];
          ran.push(position);
          defersRan.set(ctx.record.index, ran);
          return frames === 0 ? undefined : delayed(frames, undefined);
        });
      });
    });

    const stepHandler = (position: number): Handler<Rec, State> => {
      const stepOf = (ctx: Ctx): Step | undefined => itemOf(ctx).steps[position];
      const lifted = handler<Rec, State>(`step${String(position)}`, (ctx) => {
        const step = stepOf(ctx);
        if (step === undefined || step.form === 'operator') return undefined;
        switch (step.form) {
          case 'sync':
            if (step.end === 'throw') throw new Error('sync failure');
            return step.end === 'break' ? BREAK : undefined;
          case 'observable':
            return delayed(step.frames, step.end).pipe(
              map((end) => {
                if (end === 'error') throw new Error('observable failure');
                return end === 'break' ? BREAK : undefined;
              }),
            );
          case 'thenable':
            return {
              then(resolve: (value: unknown) => void, reject: (error: unknown) => void) {
                scheduler.schedule(() => {
                  for (let i = 0; i < step.settlements; i++) {
                    if (step.end === 'reject') reject(new Error('rejected'));
                    else resolve(undefined);
                  }
                }, step.frames);
              },
            } as unknown as PromiseLike<unknown>;
        }
      });
      return lifted;
    };

    // A plain operator handler: continues after some frames, drops the context, or replaces it.
    const operatorStep = (position: number): Handler<Rec, State> =>
      named<Rec, State>(
        `op${String(position)}`,
        mergeMap((ctx) => {
          const step = itemOf(ctx).steps[position];
          if (step?.form !== 'operator') return of(ctx);
          return delayed(step.frames, step.end).pipe(
            mergeMap((end) => (end === 'continue' ? of(ctx) : end === 'replace' ? of({ ...ctx }) : EMPTY)),
          );
        }),
      );

    const chain: Handler<Rec, State>[] = [enter];
    for (let position = 0; position < 4; position++) chain.push(stepHandler(position), operatorStep(position));

    const inputs: Record<string, ChainInput<Rec, State>> = {};
    let diagram = '';
    items.forEach((item, index) => {
      const name = String.fromCharCode(0x100 + index);
      const ctx = testContext<Rec, State>({ index }, { key: `k${String(item.key)}`, partition: item.key % 2 });
      inputs[name] = item.invalid ? invalidOutcome(ctx.source, new InvalidRecordError('schema', 'bad')) : ctx;
      diagram += `${'-'.repeat(item.gap)}${name}`;
    });
    cold(`${diagram}|`, inputs)
      .pipe(runChain(chain, { concurrency, ordering, ...(timeout === undefined ? {} : { timeout }) }))
      .subscribe({
        next: (outcome) => outcomes.push(outcome),
        error: (e: unknown) => (error = e),
        complete: () => (completed = true),
      });
  });
  return { outcomes, defersRan, keyOverlap, peakRunning, completed, error };
}

describe('runChain (properties)', () => {
  it('every record yields exactly one outcome, the stream completes and never errors', () => {
    fc.assert(
      fc.property(caseArb, ({ items, concurrency, ordering, timeout }) => {
        const trace = simulate(items, concurrency, ordering, timeout);
        expect(trace.error).toBeUndefined();
        expect(trace.completed).toBe(true);
        expect(trace.outcomes).toHaveLength(items.length);
      }),
      { numRuns: 150 },
    );
  });

  it('defers run exactly once each, in reverse order of registration', () => {
    fc.assert(
      fc.property(caseArb, ({ items, concurrency, ordering, timeout }) => {
        const trace = simulate(items, concurrency, ordering, timeout);
        items.forEach((item, index) => {
          const expected = item.invalid ? [] : item.deferFrames.map((_, position) => position).reverse();
          expect(trace.defersRan.get(index) ?? []).toEqual(expected);
        });
      }),
      { numRuns: 150 },
    );
  });

  it('never runs more records at once than the concurrency, in every ordering mode', () => {
    fc.assert(
      fc.property(caseArb, ({ items, concurrency, ordering, timeout }) => {
        expect(simulate(items, concurrency, ordering, timeout).peakRunning).toBeLessThanOrEqual(concurrency);
      }),
      { numRuns: 150 },
    );
  });

  it('key mode: handlers never overlap for one key, and outcomes (invalid ones too) keep input order per key', () => {
    fc.assert(
      fc.property(caseArb, ({ items, concurrency, timeout }) => {
        const trace = simulate(items, concurrency, 'key', timeout);
        expect(trace.keyOverlap).toBe(false);
        const seen = new Map<string, number[]>();
        for (const outcome of trace.outcomes) {
          const key = outcome.source.key?.toString() ?? '';
          const list = seen.get(key) ?? [];
          list.push(outcome.source.offset);
          seen.set(key, list);
        }
        for (const offsets of seen.values()) expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
      }),
      { numRuns: 150 },
    );
  });
});
