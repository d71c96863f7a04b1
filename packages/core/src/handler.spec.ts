import {
  concatMap,
  distinct,
  EMPTY,
  filter,
  last,
  lastValueFrom,
  map,
  mergeMap,
  of,
  throwError,
  toArray,
  type Observable,
} from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { observableMatcher, testContext } from '@rxkafka/testing';
import type { Context } from './context.js';
import { HandlerError, NonErrorThrown } from './errors.js';
import { BREAK, handler, mayReadSignal, named, type HandlerFn, type HandlerResult } from './handler.js';

interface Rec {
  readonly id: string;
}
type State = Record<string, unknown>;
type Ctx = Context<Rec, State>;

const ctx = (id: string): Ctx => testContext<Rec, State>({ id });

/** Runs contexts through an operator synchronously and returns what came out, or the error. */
function runSync(
  operator: (source: Observable<Ctx>) => Observable<Ctx>,
  ...contexts: Ctx[]
): { out: Ctx[]; error?: unknown } {
  const out: Ctx[] = [];
  let error: unknown;
  let failed = false;
  of(...contexts)
    .pipe(operator)
    .subscribe({
      next: (c) => out.push(c),
      error: (e: unknown) => {
        failed = true;
        error = e;
      },
    });
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set inside subscribe()
  return failed ? { out, error } : { out };
}

function handlerErrorOf(result: { error?: unknown }): HandlerError {
  expect(result.error).toBeInstanceOf(HandlerError);
  return result.error as HandlerError;
}

describe('handler()', () => {
  let testScheduler: TestScheduler;
  let a: Ctx;
  let b: Ctx;
  let c: Ctx;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
    a = ctx('a');
    b = ctx('b');
    c = ctx('c');
  });

  describe('sync bodies', () => {
    it('passes every context through unchanged, in order', () => {
      const seen: string[] = [];
      testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
        const source = hot(' -a-b-c-|', { a, b, c });
        const expected = '   -a-b-c-|';
        expectObservable(source.pipe(handler<Rec, State>('noop', (x) => void seen.push(x.record.id)))).toBe(expected, {
          a,
          b,
          c,
        });
        expectSubscriptions(source.subscriptions).toBe('^------!');
      });
      expect(seen).toEqual(['a', 'b', 'c']);
    });

    it('a body returning a non-BREAK value continues', () => {
      // Not allowed by the types, but JavaScript callers may do it: anything but BREAK means "continue".
      const body = ((): unknown => 'anything') as unknown as HandlerFn<Rec, State>;
      testScheduler.run(({ hot, expectObservable }) => {
        expectObservable(hot('-a|', { a }).pipe(handler('returns-value', body))).toBe('-a|', { a });
      });
    });

    it('BREAK drops the context quietly and the stream continues', () => {
      testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
        const source = hot(' -a-b-c-|', { a, b, c });
        const expected = '   -a---c-|';
        const dropB = handler<Rec, State>('drop-b', (x) => (x.record.id === 'b' ? BREAK : undefined));
        expectObservable(source.pipe(dropB)).toBe(expected, { a, c });
        expectSubscriptions(source.subscriptions).toBe('^------!');
      });
    });

    it('a throw fails the stream with a HandlerError naming the handler, at the frame of the throw', () => {
      const boom = new Error('boom');
      const calls: string[] = [];
      const explode = handler<Rec, State>('explode', (x) => {
        calls.push(x.record.id);
        if (x.record.id === 'b') throw boom;
      });
      testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
        const source = hot(' -a-b-c-|', { a, b, c });
        const expected = '   -a-#';
        expectObservable(source.pipe(explode)).toBe(expected, { a }, new HandlerError('explode', boom));
        expectSubscriptions(source.subscriptions).toBe('^--!');
      });
      expect(calls).toEqual(['a', 'b']);

      const error = handlerErrorOf(runSync(explode, b));
      expect(error.handler).toBe('explode');
      expect(error.cause).toBe(boom);
      expect(error.code).toBe('ERR_HANDLER');
      expect(error.message).toBe('Handler "explode" failed: boom');
    });

    it.each([
      ['a string', 'nope', 'Non-Error value thrown: "nope"'],
      ['undefined', undefined, 'Non-Error value thrown: undefined'],
      ['a number', 42, 'Non-Error value thrown: 42'],
      ['an object', { reason: 'x' }, 'Non-Error value thrown: {"reason":"x"}'],
    ])(
      'throwing %s gives a HandlerError whose cause is a NonErrorThrown keeping the value',
      (_what, thrown, causeMessage) => {
        const body = (): HandlerResult => {
          // eslint-disable-next-line @typescript-eslint/only-throw-error -- the point of the test
          throw thrown;
        };
        testScheduler.run(({ hot, expectObservable }) => {
          expectObservable(hot('-a|', { a }).pipe(handler<Rec, State>('odd', body))).toBe(
            '-#',
            undefined,
            new HandlerError('odd', new NonErrorThrown(thrown)),
          );
        });
        const error = handlerErrorOf(runSync(handler<Rec, State>('odd', body), a));
        expect(error.handler).toBe('odd');
        expect(error.cause).toBeInstanceOf(NonErrorThrown);
        const cause = error.cause;
        if (!(cause instanceof NonErrorThrown)) throw new Error('expected a NonErrorThrown cause');
        expect(cause.value).toBe(thrown);
        expect(cause.code).toBe('ERR_NON_ERROR_THROWN');
        expect(cause.message).toBe(causeMessage);
        expect(error.message).toBe(`Handler "odd" failed: ${causeMessage}`);
      },
    );
  });

  describe('Observable bodies', () => {
    it('delays each context until the body completes; one body at a time (concatMap)', () => {
      testScheduler.run(({ hot, cold, expectObservable, expectSubscriptions }) => {
        const source = hot(' -ab---|', { a, b });
        const work = cold('   --x|');
        const expected = '   ----a--(b|)';
        expectObservable(source.pipe(handler<Rec, State>('work', () => work))).toBe(expected, { a, b });
        expectSubscriptions(source.subscriptions).toBe('^-----!');
        expectSubscriptions(work.subscriptions).toBe(['-^--!', '----^--!']);
      });
    });

    it('preserves order when a later body is faster', () => {
      testScheduler.run(({ hot, cold, expectObservable, expectSubscriptions }) => {
        const source = hot(' -ab-------|', { a, b });
        const slow = cold('   -----x|');
        const fast = cold('         -y|');
        const expected = '   -------a-b|';
        const bodies: Readonly<Record<string, Observable<string>>> = {
          a: slow,
          b: fast,
        };
        const h = handler<Rec, State>('mixed', (x) => bodies[x.record.id] ?? EMPTY);
        expectObservable(source.pipe(h)).toBe(expected, { a, b });
        expectSubscriptions(slow.subscriptions).toBe('-^-----!');
        // b's body starts only when a's has finished, although b arrived at frame 2.
        expectSubscriptions(fast.subscriptions).toBe('-------^-!');
      });
    });

    it('BREAK as the last value breaks; BREAK followed by another value continues; an empty body continues', () => {
      testScheduler.run(({ hot, cold, expectObservable }) => {
        const source = hot(' -abc|', { a, b, c });
        const breakLast = cold('--(xB|)', { x: 'x', B: BREAK });
        const breakFirst = cold('--(Bx|)', { x: 'x', B: BREAK });
        const empty = cold('--|');
        const bodies: Readonly<Record<string, Observable<unknown>>> = {
          a: breakLast,
          b: breakFirst,
          c: empty,
        };
        const h = handler<Rec, State>('verdict', (x) => bodies[x.record.id] ?? EMPTY);
        // a: broken at 3; b: body 3..5, continues at 5; c: body 5..7, continues at 7.
        expectObservable(source.pipe(h)).toBe('-----b-(c|)', { b, c });
      });
    });

    it('an Observable error fails with a HandlerError wrapping it, and unsubscribes the source', () => {
      const late = new Error('late');
      testScheduler.run(({ hot, cold, expectObservable, expectSubscriptions }) => {
        const source = hot(' -ab----|', { a, b });
        const failing = cold('--#', undefined, late);
        expectObservable(source.pipe(handler<Rec, State>('slow', () => failing))).toBe(
          '---#',
          undefined,
          new HandlerError('slow', late),
        );
        expectSubscriptions(source.subscriptions).toBe('^--!');
        expectSubscriptions(failing.subscriptions).toBe('-^-!');
      });
      const error = handlerErrorOf(
        runSync(
          handler<Rec, State>('slow', () => throwError(() => late)),
          a,
        ),
      );
      expect(error.handler).toBe('slow');
      expect(error.cause).toBe(late);
    });

    it('an Observable erroring with a non-Error wraps it as NonErrorThrown', () => {
      testScheduler.run(({ hot, cold, expectObservable }) => {
        const failing = cold('-#', undefined, 'plain string');
        expectObservable(hot('-a|', { a }).pipe(handler<Rec, State>('str', () => failing))).toBe(
          '--#',
          undefined,
          new HandlerError('str', new NonErrorThrown('plain string')),
        );
      });
    });

    it('a HandlerError from a nested handler passes through unwrapped', () => {
      const inner = handler<Rec, State>('inner', () => {
        throw new Error('deep');
      });
      const outer = handler<Rec, State>('outer', (x) => of(x).pipe(inner));
      const error = handlerErrorOf(runSync(outer, a));
      expect(error.handler).toBe('inner');
      expect(error.message).toBe('Handler "inner" failed: deep');
    });

    it('unsubscribing tears down the running body and the source', () => {
      testScheduler.run(({ hot, cold, expectObservable, expectSubscriptions }) => {
        const source = hot(' -ab------|', { a, b });
        const work = cold('   -----x|');
        expectObservable(source.pipe(handler<Rec, State>('work', () => work)), '^---!').toBe('-----');
        expectSubscriptions(source.subscriptions).toBe('^---!');
        expectSubscriptions(work.subscriptions).toBe('-^--!');
      });
    });
  });

  describe('Promise bodies (real time)', () => {
    it('resolves to continue, resolves BREAK to drop, rejects to a HandlerError', async () => {
      const h = handler<Rec, State>('async', async (x) => {
        await Promise.resolve();
        return x.record.id === 'b' ? BREAK : undefined;
      });
      const out = await lastValueFrom(
        of(a, b, c).pipe(
          h,
          map((x) => x.record.id),
          toArray(),
        ),
      );
      expect(out).toEqual(['a', 'c']);

      const reason = new Error('rejected');
      const failing = handler<Rec, State>('reject', () => Promise.reject(reason));
      const error: unknown = await lastValueFrom(of(a).pipe(failing)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HandlerError);
      expect((error as HandlerError).handler).toBe('reject');
      expect((error as HandlerError).cause).toBe(reason);
    });
  });

  describe('the signal argument', () => {
    it('a two-parameter body receives ctx.signal as its second argument', () => {
      const received: [Ctx, AbortSignal][] = [];
      const h = handler<Rec, State>('with-signal', (x, signal) => {
        received.push([x, signal]);
      });
      expect(runSync(h, a, b).out).toEqual([a, b]);
      expect(received).toHaveLength(2);
      for (const [x, signal] of received) {
        expect(signal).toBeInstanceOf(AbortSignal);
        expect(signal).toBe(x.signal);
        expect(signal.aborted).toBe(false);
      }
    });

    it('a body that does not declare the signal still gets it (the signal is never passed by arity)', () => {
      const argCounts: number[] = [];
      const body = function (this: void, _x: Ctx): HandlerResult {
        argCounts.push(arguments.length);
      };
      expect(body.length).toBe(1);
      expect(runSync(handler<Rec, State>('no-signal', body), a).out).toEqual([a]);
      expect(argCounts).toEqual([2]);
    });
  });

  describe('creation', () => {
    it('exposes its name and body', () => {
      const body = (): HandlerResult => undefined;
      const h = handler<Rec, State>('named-one', body);
      expect(h.handlerName).toBe('named-one');
      expect(h.body).toBe(body);
    });

    it.each([
      ['an empty name', ''],
      ['a number as name', 42],
      ['undefined as name', undefined],
    ])('throws a TypeError for %s', (_what, name) => {
      expect(() => handler(name as unknown as string, () => undefined)).toThrow(TypeError);
      expect(() => handler(name as unknown as string, () => undefined)).toThrow(
        'handler: name must be a non-empty string',
      );
    });

    it.each([
      ['undefined', undefined],
      ['a string', 'not a function'],
      ['an object', {}],
    ])('throws a TypeError for %s as body', (_what, body) => {
      expect(() => handler('h', body as unknown as HandlerFn<Rec, State>)).toThrow(TypeError);
      expect(() => handler('h', body as unknown as HandlerFn<Rec, State>)).toThrow(
        'handler "h": body must be a function',
      );
    });
  });
});

describe('named()', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  it('behaves exactly like the operator it names and carries the name', () => {
    const a = ctx('a');
    const b = ctx('b');
    const c = ctx('c');
    const onlyNotB = named<Rec, State>(
      'not-b',
      filter((x) => x.record.id !== 'b'),
    );
    expect(onlyNotB.handlerName).toBe('not-b');
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot(' -a-b-c-|', { a, b, c });
      expectObservable(source.pipe(onlyNotB)).toBe('-a---c-|', { a, c });
      expectSubscriptions(source.subscriptions).toBe('^------!');
    });
  });

  it('passes timing and errors of the named operator through untouched (no HandlerError wrapping)', () => {
    const a = ctx('a');
    const b = ctx('b');
    const failure = new Error('op failed');
    testScheduler.run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const source = hot(' -a-----|', { a });
      const work = cold('   --x|');
      const delayed = named<Rec, State>(
        'delayed',
        concatMap((x) =>
          work.pipe(
            last(),
            map(() => x),
          ),
        ),
      );
      expectObservable(source.pipe(delayed)).toBe('----a--|', { a });
      expectSubscriptions(work.subscriptions).toBe('-^--!');

      const other = hot(' -a-b-|', { a, b });
      const failing = named<Rec, State>(
        'failing',
        mergeMap((x) => (x.record.id === 'b' ? throwError(() => failure) : of(x))),
      );
      expectObservable(other.pipe(failing)).toBe('-a-#', { a }, failure);
      expectSubscriptions(other.subscriptions).toBe('^--!');
    });
  });
});

describe('handlers outside runChain behave as inside it', () => {
  it('a wrapped body or a default parameter still gets the signal', () => {
    const a = ctx('a');
    const signals: unknown[] = [];
    const inner: HandlerFn<Rec, State> = (_c, signal) => void signals.push(signal);
    const wrapped = handler<Rec, State>('wrapped', (...args) => inner(...args));
    // A default makes `body.length` 1, which once meant "no signal".
    // eslint-disable-next-line @typescript-eslint/no-useless-default-assignment
    const withDefault = handler<Rec, State>('default', (_c, signal = undefined as never) => void signals.push(signal));
    expect(runSync(wrapped, a).out).toEqual([a]);
    expect(runSync(withDefault, a).out).toEqual([a]);
    expect(signals).toEqual([a.signal, a.signal]);
  });

  it('named() applies its operator to one context at a time, as runChain does', () => {
    const a = ctx('same');
    const b = ctx('same');
    const distinctIds = named<Rec, State>(
      'distinct',
      distinct((x) => x.record.id),
    );
    expect(runSync(distinctIds, a, b).out).toEqual([a, b]);
  });

  it('named() with an operator that replaces the context errors clearly', () => {
    const copy = named<Rec, State>(
      'copy',
      map((x) => ({ ...x })),
    );
    const result = runSync(copy, ctx('a'));
    expect(handlerErrorOf(result).message).toContain('emitted another object instead of the context it was given');
  });

  it('named() with an operator that throws when applied errors with that error', () => {
    const broken = named<Rec, State>('broken', () => {
      throw new Error('bad operator');
    });
    expect(runSync(broken, ctx('a')).error).toEqual(new Error('bad operator'));
  });

  it('a thenable that settles twice counts once', async () => {
    const a = ctx('a');
    const twice = handler<Rec, State>(
      'twice',
      () =>
        ({
          then(resolve: (value: unknown) => void) {
            resolve(undefined);
            resolve(BREAK);
          },
        }) as unknown as PromiseLike<unknown>,
    );
    expect(await lastValueFrom(of(a).pipe(twice, toArray()))).toEqual([a]);
  });
});

describe('mayReadSignal: the signal is spared only for bodies that cannot read it', () => {
  it.each([
    ['no parameter', () => undefined, false],
    ['one parameter', (x: Ctx) => x, false],
    ['one destructured parameter', ({ record }: Ctx) => record, false],
    ['an async body with one parameter', async (x: Ctx) => Promise.resolve(x), false],
    ['two parameters', (x: Ctx, signal: AbortSignal) => [x, signal], true],
    ['a rest parameter (a wrapper)', (...args: unknown[]) => args, true],
    // eslint-disable-next-line @typescript-eslint/no-useless-default-assignment
    ['a default second parameter', (x: Ctx, signal: unknown = null) => [x, signal], true],
    [
      'a function reading `arguments`',
      function (this: void, x: Ctx) {
        // eslint-disable-next-line prefer-rest-params, @typescript-eslint/no-unsafe-return
        return arguments[1] ?? x;
      },
      true,
    ],
    ['a bound function', ((x: Ctx) => x).bind(null), true],
  ])('%s → %s', (_what, body, expected) => {
    expect(mayReadSignal(body as (...args: never[]) => unknown)).toBe(expected);
  });
});
