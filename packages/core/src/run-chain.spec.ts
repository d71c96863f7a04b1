import {
  delay,
  distinct,
  filter,
  firstValueFrom,
  from,
  map,
  mergeMap,
  Observable,
  Subject,
  throwError,
  timeout,
  toArray,
} from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { observableMatcher, testContext } from '@rxkafka/testing';
import { abortWaiters } from './abort-when.js';
import type { AttemptEnd, Context } from './context.js';
import {
  AbortedError,
  ConfigError,
  DeadlineExceededError,
  DeferError,
  HandlerError,
  NonErrorThrown,
} from './errors.js';
import { BREAK, handler, named, type Handler } from './handler.js';
import { PoolGauges } from './merge-map-by-key.js';
import { invalidOutcome, type Outcome } from './outcome.js';
import { InvalidRecordError } from './errors.js';
import { runChain } from './run-chain.js';

interface Rec {
  readonly id: string;
}
type State = Record<string, unknown>;
type Ctx = Context<Rec, State>;

/** The parts of an outcome a diagram can compare. */
function summary(outcome: Outcome<Rec, State>): Record<string, unknown> {
  return {
    kind: outcome.kind,
    id: outcome.kind === 'invalid' ? null : outcome.context.record.id,
    handler: 'handler' in outcome ? outcome.handler : null,
    attempt: outcome.attempt,
    error: 'error' in outcome ? outcome.error : null,
  };
}

function ctx(id: string, key: string | null = id, partition = 0): Ctx {
  return testContext<Rec, State>({ id }, { key, partition });
}

const ok = (id: string, attempt = 1) => ({ kind: 'ok', id, handler: null, attempt, error: null });

describe('runChain', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  describe('chain semantics', () => {
    it('runs handlers in strict order, waiting for async ones', () => {
      const log: string[] = [];
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const slow = cold('--x|');
        const chain: Handler<Rec, State>[] = [
          handler('one', (c) => void log.push(`one:${c.record.id}`)),
          handler('two', () => {
            log.push('two');
            return slow;
          }),
          handler('three', (c) => void log.push(`three:${c.record.id}`)),
        ];
        const source = cold('(a|)', { a: ctx('a') });
        expectObservable(source.pipe(runChain(chain), map(summary))).toBe('---(o|)', { o: ok('a') });
        expectSubscriptions(slow.subscriptions).toBe('^--!');
      });
      expect(log).toEqual(['one:a', 'two', 'three:a']);
    });

    it.each([0, 1, 2])('breaks quietly at position %i and runs no later handler', (position) => {
      const ran: number[] = [];
      const chain = [0, 1, 2].map((i) =>
        handler<Rec, State>(`h${String(i)}`, () => {
          ran.push(i);
          return i === position ? BREAK : undefined;
        }),
      );
      testScheduler.run(({ cold, expectObservable }) => {
        expectObservable(cold('(a|)', { a: ctx('a') }).pipe(runChain(chain), map(summary))).toBe('(o|)', {
          o: { kind: 'break', id: 'a', handler: `h${String(position)}`, attempt: 1, error: null },
        });
      });
      expect(ran).toEqual([0, 1, 2].slice(0, position + 1));
    });

    it.each([0, 1, 2])('fails at position %i with a HandlerError naming the handler', (position) => {
      const ran: number[] = [];
      const boom = new Error('boom');
      const chain = [0, 1, 2].map((i) =>
        handler<Rec, State>(`h${String(i)}`, () => {
          ran.push(i);
          if (i === position) throw boom;
        }),
      );
      testScheduler.run(({ cold, expectObservable }) => {
        expectObservable(cold('(a|)', { a: ctx('a') }).pipe(runChain(chain), map(summary))).toBe('(o|)', {
          o: {
            kind: 'failed',
            id: 'a',
            handler: `h${String(position)}`,
            attempt: 1,
            error: new HandlerError(`h${String(position)}`, boom),
          },
        });
      });
      expect(ran).toEqual([0, 1, 2].slice(0, position + 1));
    });

    it('fails when an Observable handler errors, keeping the cause', async () => {
      const cause = new Error('downstream unavailable');
      const chain = [handler<Rec, State>('call', () => throwError(() => cause))];
      const [outcome] = await firstValueFrom(from([ctx('a')]).pipe(runChain(chain), toArray()));
      expect(outcome?.kind).toBe('failed');
      expect(outcome?.kind === 'failed' && outcome.error.cause).toBe(cause);
    });

    it('normalises a thrown string and a thrown undefined, never losing them', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const chain = [
          handler<Rec, State>('strings', (c) => {
            // eslint-disable-next-line @typescript-eslint/only-throw-error
            throw c.record.id === 'a' ? 'boom' : undefined;
          }),
        ];
        expectObservable(cold('ab|', { a: ctx('a'), b: ctx('b') }).pipe(runChain(chain), map(summary))).toBe('ab|', {
          a: {
            kind: 'failed',
            id: 'a',
            handler: 'strings',
            attempt: 1,
            error: new HandlerError('strings', new NonErrorThrown('boom')),
          },
          b: {
            kind: 'failed',
            id: 'b',
            handler: 'strings',
            attempt: 1,
            error: new HandlerError('strings', new NonErrorThrown(undefined)),
          },
        });
      });
    });

    it('accepts plain RxJS operators as handlers: dropping the context is a break', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const chain: Handler<Rec, State>[] = [
          map((c: Ctx) => c),
          delay(2),
          named(
            'only-a',
            filter((c: Ctx) => c.record.id === 'a'),
          ),
          mergeMap((c: Ctx) => (c.record.id === 'a' ? throwError(() => new Error('no')) : [c])),
        ];
        expectObservable(cold('ab|', { a: ctx('a'), b: ctx('b') }).pipe(runChain(chain), map(summary))).toBe(
          '--a(b|)',
          {
            a: {
              kind: 'failed',
              id: 'a',
              handler: 'handler#3',
              attempt: 1,
              error: new HandlerError('handler#3', new Error('no')),
            },
            b: { kind: 'break', id: 'b', handler: 'only-a', attempt: 1, error: null },
          },
        );
      });
    });

    it('passes invalid records straight through', () => {
      const invalid = invalidOutcome(ctx('x').source, new InvalidRecordError('schema', 'id is required'));
      testScheduler.run(({ cold, expectObservable }) => {
        expectObservable(cold('i|', { i: invalid }).pipe(runChain<Rec, State>([]))).toBe('i|', { i: invalid });
      });
    });
  });

  describe('timeout', () => {
    it('aborts the signal, discards the late result and reports the handler', () => {
      let abortReason: unknown;
      let lateHandlerRan = false;
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const work = cold('-----x|');
        const chain = [
          handler<Rec, State>('slow', (_c, signal) => {
            signal.addEventListener('abort', () => {
              abortReason = signal.reason;
            });
            return work;
          }),
          handler<Rec, State>('after', () => {
            lateHandlerRan = true;
          }),
        ];
        expectObservable(cold('(a|)', { a: ctx('a') }).pipe(runChain(chain, { timeout: 3 }), map(summary))).toBe(
          '---(o|)',
          {
            o: { kind: 'timeout', id: 'a', handler: 'slow', attempt: 1, error: new DeadlineExceededError('slow', 3) },
          },
        );
        expectSubscriptions(work.subscriptions).toBe('^--!');
      });
      expect(abortReason).toEqual(new DeadlineExceededError('slow', 3));
      expect(lateHandlerRan).toBe(false);
    });

    it('discards a late Promise result in real time', async () => {
      let after = false;
      let aborted = false;
      const chain = [
        handler<Rec, State>('sleepy', async (_c, signal) => {
          signal.addEventListener('abort', () => (aborted = true));
          await new Promise((resolve) => setTimeout(resolve, 60));
        }),
        handler<Rec, State>('after', () => void (after = true)),
      ];
      const outcomes = await firstValueFrom(from([ctx('a')]).pipe(runChain(chain, { timeout: 10 }), toArray()));
      expect(outcomes.map((o) => o.kind)).toEqual(['timeout']);
      expect(aborted).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 80));
      expect(after).toBe(false);
    });

    it('sets the deadline on the context', () => {
      let deadline = 0;
      testScheduler.run(({ cold, expectObservable }) => {
        const chain = [handler<Rec, State>('read', (c) => void (deadline = c.deadline))];
        expectObservable(cold('--a|', { a: ctx('a') }).pipe(runChain(chain, { timeout: 100 }), map(summary))).toBe(
          '--a|',
          {
            a: ok('a'),
          },
        );
      });
      expect(deadline).toBe(102);
    });
  });

  describe('defers', () => {
    const ends: AttemptEnd[] = ['ok', 'break', 'failed', 'timeout'];

    it.each(ends)('run once each, in reverse order, after a %s outcome', (end) => {
      const log: string[] = [];
      testScheduler.run(({ cold, expectObservable }) => {
        const chain = [
          handler<Rec, State>('first', (c) => c.defer((e) => void log.push(`d1:${e}`))),
          handler<Rec, State>('second', (c) => c.defer((e) => void log.push(`d2:${e}`))),
          handler<Rec, State>('last', () => {
            if (end === 'break') return BREAK;
            if (end === 'failed') throw new Error('x');
            if (end === 'timeout') return cold('-----|');
            return undefined;
          }),
        ];
        const outcomes = cold('(a|)', { a: ctx('a') }).pipe(
          runChain(chain, { timeout: 2, defers: [(e) => void log.push(`static:${e}`)] }),
          map((o) => o.kind),
        );
        expectObservable(outcomes).toBe(end === 'timeout' ? '--(o|)' : '(o|)', { o: end });
      });
      expect(log).toEqual([`d2:${end}`, `d1:${end}`, `static:${end}`]);
    });

    it('run on unsubscription (shutdown), with the signal aborted', () => {
      const log: string[] = [];
      let signalAborted = false;
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const work = cold('------|');
        const chain = [
          handler<Rec, State>('acquire', (c, signal) => {
            c.defer((e) => {
              signalAborted = signal.aborted;
              log.push(`release:${e}`);
            });
          }),
          handler<Rec, State>('work', () => work),
        ];
        expectObservable(cold('(a|)', { a: ctx('a') }).pipe(runChain(chain)), '^--!').toBe('----');
        expectSubscriptions(work.subscriptions).toBe('^--!');
      });
      expect(log).toEqual(['release:aborted']);
      expect(signalAborted).toBe(true);
    });

    it('are awaited before the outcome is emitted', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const cleanup = cold('---|');
        const chain = [handler<Rec, State>('acquire', (c) => c.defer(() => cleanup))];
        expectObservable(cold('(a|)', { a: ctx('a') }).pipe(runChain(chain), map(summary))).toBe('---(o|)', {
          o: ok('a'),
        });
      });
    });

    it('report a failing defer on the outcome and still run the others', () => {
      const log: string[] = [];
      let deferErrors: readonly DeferError[] = [];
      testScheduler.run(({ cold, expectObservable }) => {
        const chain = [
          handler<Rec, State>('register', (c) => {
            c.defer(() => void log.push('first'));
            c.defer(() => {
              throw new Error('cannot release');
            });
            c.defer(() => void log.push('third'));
          }),
        ];
        const outcomes = cold('(a|)', { a: ctx('a') }).pipe(
          runChain(chain),
          map((o) => {
            deferErrors = o.deferErrors;
            return o.kind;
          }),
        );
        expectObservable(outcomes).toBe('(o|)', { o: 'ok' });
      });
      expect(log).toEqual(['third', 'first']);
      expect(deferErrors).toEqual([new DeferError(1, new Error('cannot release'))]);
    });

    it('are bounded by deferTimeout', () => {
      let deferErrors: readonly DeferError[] = [];
      testScheduler.run(({ cold, expectObservable }) => {
        const stuck = cold('----------|');
        const chain = [handler<Rec, State>('register', (c) => c.defer(() => stuck))];
        const outcomes = cold('(a|)', { a: ctx('a') }).pipe(
          runChain(chain, { deferTimeout: 4 }),
          map((o) => {
            deferErrors = o.deferErrors;
            return o.kind;
          }),
        );
        expectObservable(outcomes).toBe('----(o|)', { o: 'ok' });
      });
      expect(deferErrors.map((e) => e.message)).toEqual(['Defer #0 failed: defer did not settle within 4 ms']);
    });

    it('run after each attempt when retrying', () => {
      const log: string[] = [];
      testScheduler.run(({ cold, expectObservable }) => {
        const chain = [
          handler<Rec, State>('flaky', (c) => {
            c.defer((e) => void log.push(`attempt${String(c.attempt)}:${e}`));
            if (c.attempt < 2) throw new Error('flaky');
          }),
        ];
        const outcomes = cold('(a|)', { a: ctx('a') }).pipe(
          runChain(chain, { retry: { maxAttempts: 2, initialDelay: 5, jitter: 0 } }),
          map(summary),
        );
        expectObservable(outcomes).toBe('-----(o|)', { o: ok('a', 2) });
      });
      expect(log).toEqual(['attempt1:failed', 'attempt2:ok']);
    });
  });

  describe('concurrency and ordering', () => {
    it('never runs more records than the concurrency limit', () => {
      const gauges = new PoolGauges();
      testScheduler.run(({ cold, expectObservable }) => {
        const chain = [handler<Rec, State>('work', () => cold('-----|'))];
        const source = cold('(abcde|)', { a: ctx('a'), b: ctx('b'), c: ctx('c'), d: ctx('d'), e: ctx('e') });
        const outcomes = source.pipe(
          runChain(chain, { concurrency: 2, ordering: 'unordered', gauges }),
          map((o) => o.kind),
        );
        expectObservable(outcomes).toBe('5ms (oo) 1ms (oo) 1ms (o|)', { o: 'ok' });
      });
      expect(gauges.peakActive).toBe(2);
      expect(gauges.active).toBe(0);
    });

    const durations: Record<string, string> = { a1: '------|', b1: '-|', a2: '-|' };
    const keyed = (ordering: 'key' | 'partition' | 'unordered', expected: string) => {
      testScheduler.run(({ cold, expectObservable }) => {
        const chain = [handler<Rec, State>('work', (c) => cold(durations[c.record.id] ?? '|'))];
        const source = cold('(abc|)', {
          a: ctx('a1', 'a', 0),
          b: ctx('b1', 'b', 1),
          c: ctx('a2', 'a', 0),
        });
        expectObservable(
          source.pipe(
            runChain(chain, { ordering, concurrency: 10 }),
            map((o) => (o.kind === 'invalid' ? '' : o.context.record.id)),
          ),
        ).toBe(expected, { x: 'a1', y: 'b1', z: 'a2' });
      });
    };

    it('keeps per-key order and lets other keys pass in key mode', () => {
      keyed('key', '-y----x(z|)');
    });

    it('keeps per-partition order in partition mode', () => {
      keyed('partition', '-y----x(z|)');
    });

    it('keeps no order in unordered mode', () => {
      keyed('unordered', '-(yz)-(x|)');
    });

    it('a synchronous record waits behind an asynchronous one of its key, and frees its key at once', () => {
      const gauges = new PoolGauges();
      testScheduler.run(({ cold, expectObservable }) => {
        const chain = [handler<Rec, State>('work', (c) => (c.record.id === 'a1' ? cold('---|') : undefined))];
        const source = cold('(abc|)', { a: ctx('a1', 'a'), b: ctx('a2', 'a'), c: ctx('b1', 'b') });
        expectObservable(
          source.pipe(
            runChain(chain, { concurrency: 4, gauges }),
            map((o) => (o.kind === 'invalid' ? '' : o.context.record.id)),
          ),
        ).toBe('y--(xz|)', { x: 'a1', y: 'b1', z: 'a2' });
      });
      expect(gauges.keys).toBe(0);
      expect(gauges.active).toBe(0);
    });

    it('a record of the same key that arrives while a synchronous one runs (a re-entrant source) waits for it', () => {
      const source = new Subject<Ctx>();
      const log: string[] = [];
      const chain = [
        handler<Rec, State>('work', (c) => {
          log.push(`start ${c.record.id}`);
          if (c.record.id === 'a1') {
            source.next(ctx('a2', 'a'));
            source.next(ctx('b1', 'b'));
          }
          log.push(`end ${c.record.id}`);
        }),
      ];
      const gauges = new PoolGauges();
      source.pipe(runChain(chain, { concurrency: 4, gauges })).subscribe((o) => {
        log.push(`out ${o.kind === 'invalid' ? '' : o.context.record.id}`);
      });
      source.next(ctx('a1', 'a'));
      expect(log).toEqual([
        'start a1',
        'start b1',
        'end b1',
        'out b1',
        'end a1',
        'out a1',
        'start a2',
        'end a2',
        'out a2',
      ]);
      expect(gauges.keys).toBe(0);
      expect(gauges.queued).toBe(0);
    });

    it('never deadlocks with more keys than workers (the groupBy trap)', () => {
      const gauges = new PoolGauges();
      testScheduler.run(({ cold, expectObservable }) => {
        const chain = [handler<Rec, State>('work', () => cold('-----|'))];
        const source = cold('(abcdef|)', Object.fromEntries(['a', 'b', 'c', 'd', 'e', 'f'].map((k) => [k, ctx(k)])));
        expectObservable(
          source.pipe(
            runChain(chain, { concurrency: 2, gauges }),
            map(() => 'o'),
          ),
        ).toBe('5ms (oo) 1ms (oo) 1ms (oo|)');
      });
      expect(gauges.keys).toBe(0);
      expect(gauges.queued).toBe(0);
    });

    it('does not let a failing key stall the others', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const chain = [
          handler<Rec, State>('work', (c) => {
            if (c.key === 'bad') throw new Error('poison');
            return cold('-|');
          }),
        ];
        const source = cold('(abc|)', { a: ctx('p1', 'bad'), b: ctx('g1', 'good'), c: ctx('p2', 'bad') });
        expectObservable(
          source.pipe(
            runChain(chain, { concurrency: 1 }),
            map((o) => o.kind),
          ),
        ).toBe('f(of|)', { f: 'failed', o: 'ok' });
      });
    });
  });

  describe('retry', () => {
    it('backs off exponentially between attempts', () => {
      const starts: number[] = [];
      testScheduler.run(({ cold, expectObservable }) => {
        const chain = [
          handler<Rec, State>('flaky', (c) => {
            starts.push(testScheduler.now());
            if (c.attempt < 3) throw new Error('try again');
          }),
        ];
        const outcomes = cold('(a|)', { a: ctx('a') }).pipe(
          runChain(chain, { retry: { maxAttempts: 3, initialDelay: 10, multiplier: 2, jitter: 0 } }),
          map(summary),
        );
        expectObservable(outcomes).toBe('30ms (o|)', { o: ok('a', 3) });
      });
      expect(starts).toEqual([0, 10, 30]);
    });

    it('applies jitter from the random source and caps the delay', () => {
      const starts: number[] = [];
      testScheduler.run(({ cold, expectObservable }) => {
        const chain = [
          handler<Rec, State>('flaky', () => {
            starts.push(testScheduler.now());
            throw new Error('always');
          }),
        ];
        const outcomes = cold('(a|)', { a: ctx('a') }).pipe(
          runChain(chain, { retry: { maxAttempts: 4, initialDelay: 10, maxDelay: 15, jitter: 1, random: () => 0.5 } }),
          map((o) => `${o.kind}@${String(o.attempt)}`),
        );
        expectObservable(outcomes).toBe('20ms (o|)', { o: 'failed@4' });
      });
      // Delays: 10*0.5, min(15, 20)*0.5, min(15, 40)*0.5.
      expect(starts).toEqual([0, 5, 12.5, 20]);
    });

    it('retries timeouts, and stops at once for a non-retryable error', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const chain = [
          handler<Rec, State>('work', (c) => {
            if (c.record.id === 'fatal') throw new Error('fatal');
            return cold('-----|');
          }),
        ];
        const outcomes = cold('ab|', { a: ctx('fatal'), b: ctx('slow') }).pipe(
          runChain(chain, {
            timeout: 2,
            retry: {
              maxAttempts: 2,
              initialDelay: 1,
              jitter: 0,
              retryable: (error) => error instanceof DeadlineExceededError,
            },
          }),
          map((o) => `${o.kind}@${String(o.attempt)}`),
        );
        expectObservable(outcomes).toBe('a-----(b|)', { a: 'failed@1', b: 'timeout@2' });
      });
    });
  });

  describe('cancellation from outside', () => {
    it('ends with an aborted outcome when the outer signal fires (revoke or shutdown)', () => {
      const controller = new AbortController();
      const log: string[] = [];
      testScheduler.run(({ cold, expectObservable }) => {
        testScheduler.schedule(() => controller.abort(new Error('partition revoked')), 2);
        const chain = [
          handler<Rec, State>('work', (c) => {
            c.defer((e) => void log.push(e));
            return cold('-----|');
          }),
        ];
        const source = cold('(a|)', { a: testContext<Rec, State>({ id: 'a' }, { signal: controller.signal }) });
        expectObservable(source.pipe(runChain(chain), map(summary))).toBe('--(o|)', {
          o: {
            kind: 'aborted',
            id: 'a',
            handler: 'work',
            attempt: 1,
            error: new AbortedError(new Error('partition revoked')),
          },
        });
      });
      expect(log).toEqual(['aborted']);
    });

    it('notices an abort that a handler caused itself before waiting', () => {
      const controller = new AbortController();
      testScheduler.run(({ cold, expectObservable }) => {
        const chain = [
          handler<Rec, State>('abort-then-wait', () => {
            controller.abort(new Error('stop'));
            return cold('---|');
          }),
        ];
        const source = cold('(a|)', { a: testContext<Rec, State>({ id: 'a' }, { signal: controller.signal }) });
        expectObservable(
          source.pipe(
            runChain(chain),
            map((o) => o.kind),
          ),
        ).toBe('(o|)', { o: 'aborted' });
      });
    });

    it('does not start a record whose signal already fired', () => {
      const controller = new AbortController();
      controller.abort(new Error('shutdown'));
      let ran = false;
      testScheduler.run(({ cold, expectObservable }) => {
        const chain = [handler<Rec, State>('work', () => void (ran = true))];
        const source = cold('(a|)', { a: testContext<Rec, State>({ id: 'a' }, { signal: controller.signal }) });
        expectObservable(
          source.pipe(
            runChain(chain),
            map((o) => o.kind),
          ),
        ).toBe('(o|)', { o: 'aborted' });
      });
      expect(ran).toBe(false);
    });
  });

  describe('configuration', () => {
    it.each([
      [{ concurrency: 0 }, 'concurrency'],
      [{ concurrency: 2.5 }, 'concurrency'],
      [{ timeout: -1 }, 'timeout'],
      [{ timeout: 0 }, 'timeout'],
      [{ ordering: 'random' }, 'ordering'],
      [{ retry: { maxAttempts: 0 } }, 'retry.maxAttempts'],
      [{ retry: { maxAttempts: 2, jitter: 2 } }, 'retry.jitter'],
      [{ deferTimeout: -5 }, 'deferTimeout'],
      [{ concurency: 4 }, 'concurency'],
    ])('rejects %j at creation, naming %s', (options, field) => {
      const create = () => runChain<Rec, State>([], options as never);
      expect(create).toThrow(ConfigError);
      expect(create).toThrow(`Invalid option \`${field}\``);
    });

    it('rejects a chain that is not an array of operators', () => {
      expect(() => runChain([42 as never])).toThrow(TypeError);
    });

    it.each(['key', 'unordered'] as const)(
      'rejects a pool wider than its source keeps in flight, when applied (%s)',
      (ordering) => {
        const source = Object.assign(new Observable<Context<Rec, State>>(), { limits: { maxInFlight: 1000 } });
        const apply = () => source.pipe(runChain<Rec, State>([], { ordering, concurrency: 1024 }));
        expect(apply).toThrow(ConfigError);
        expect(apply).toThrow(
          "Invalid option `concurrency`: expected at most the source's maxInFlight (1000), since no more " +
            "records than that are ever in flight; raise the source's maxInFlight to at least 1024, received 1024",
        );
        expect(() => source.pipe(runChain<Rec, State>([], { ordering, concurrency: 1000 }))).not.toThrow();
        // A source that declares no limit is not checked.
        expect(() =>
          new Observable<Context<Rec, State>>().pipe(runChain<Rec, State>([], { ordering, concurrency: 1024 })),
        ).not.toThrow();
      },
    );

    it.each(['key', 'unordered'] as const)(
      'rejects a maxQueued below what its source keeps in flight, when applied (%s)',
      (ordering) => {
        const source = Object.assign(new Observable<Context<Rec, State>>(), { limits: { maxInFlight: 20_000 } });
        const apply = () => source.pipe(runChain<Rec, State>([], { ordering, maxQueued: 19_999 }));
        expect(apply).toThrow(ConfigError);
        expect(apply).toThrow(
          "Invalid option `maxQueued`: expected at least the source's maxInFlight (20000), since that many " +
            "records can wait for a worker or their key; raise maxQueued, or lower the source's maxInFlight, " +
            'received 19999',
        );
        expect(() => source.pipe(runChain<Rec, State>([], { ordering, maxQueued: 20_000 }))).not.toThrow();
      },
    );

    it.each(['key', 'unordered'] as const)(
      "queues up to its source's maxInFlight by default, past 10,000, without overflowing (%s)",
      (ordering) => {
        const records = 15_000;
        // Every record waits behind the first, whose handler never finishes (one key, one worker).
        const burst = () =>
          new Observable<Ctx>((subscriber) => {
            for (let i = 0; i < records; i++) subscriber.next(ctx(String(i), 'k'));
          });
        const source = Object.assign(burst(), { limits: { maxInFlight: 20_000 } });
        const never = handler<Rec, State>('never', () => new Promise<void>(() => undefined));
        const gauges = new PoolGauges();
        let failure: unknown;
        const subscription = source
          .pipe(runChain<Rec, State>([never], { ordering, concurrency: 1, gauges }))
          .subscribe({ error: (error: unknown) => (failure = error) });
        expect(failure).toBeUndefined();
        expect(gauges.queued).toBe(records - 1);
        subscription.unsubscribe();
        // The same stream without a declared limit overflows the default 10,000.
        burst()
          .pipe(runChain<Rec, State>([never], { ordering, concurrency: 1 }))
          .subscribe({ error: (error: unknown) => (failure = error) })
          .unsubscribe();
        expect(failure).toMatchObject({ name: 'QueueOverflowError', maxQueued: 10_000 });
      },
    );
  });
});

/** A PromiseLike settled by hand, synchronously: usable in virtual time, and able to misbehave. */
function manualThenable(): {
  readonly thenable: PromiseLike<unknown>;
  resolve(value?: unknown): void;
  reject(error: unknown): void;
  readonly listeners: () => number;
} {
  const callbacks: [(value: unknown) => unknown, (error: unknown) => unknown][] = [];
  return {
    thenable: {
      then(onFulfilled, onRejected) {
        callbacks.push([onFulfilled as (value: unknown) => unknown, onRejected as (error: unknown) => unknown]);
        return undefined as never;
      },
    },
    resolve: (value) => {
      for (const [fulfilled] of callbacks) fulfilled(value);
    },
    reject: (error) => {
      for (const [, rejected] of callbacks) rejected(error);
    },
    listeners: () => callbacks.length,
  };
}

/** An outer signal that counts its abort listeners, to prove none is left behind. */
function countingSignal(): { controller: AbortController; listeners: () => number } {
  const controller = new AbortController();
  const live = new Set<unknown>();
  const { signal } = controller;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = (...args: Parameters<AbortSignal['addEventListener']>) => {
    live.add(args[1]);
    add(...args);
  };
  signal.removeEventListener = (...args: Parameters<AbortSignal['removeEventListener']>) => {
    live.delete(args[1]);
    remove(...args);
  };
  return { controller, listeners: () => live.size };
}

describe('runChain: defers and deadlines keep their promise', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  it('waits for a timed-out Promise handler, so a resource it acquires late is released before the outcome', () => {
    const log: string[] = [];
    const acquire = manualThenable();
    testScheduler.run(({ cold, expectObservable }) => {
      // The README's enrich pattern, with a handler that ignores the signal.
      const enrich = handler<Rec, State>('enrich', (c) => {
        const acquired = manualThenable();
        acquire.thenable.then(() => {
          log.push(`acquired@${String(testScheduler.now())}`);
          c.defer((end) => void log.push(`release:${end}@${String(testScheduler.now())}`));
          acquired.resolve();
        });
        return acquired.thenable;
      });
      testScheduler.schedule(() => acquire.resolve(), 5);
      const outcomes = cold('(a|)', { a: ctx('a') }).pipe(
        runChain([enrich], { timeout: 3 }),
        map((o) => `${o.kind}@${String(testScheduler.now())}`),
      );
      expectObservable(outcomes).toBe('-----(o|)', { o: 'timeout@5' });
    });
    expect(log).toEqual(['acquired@5', 'release:timeout@5']);
  });

  it('gives a timed-out Promise handler at most deferTimeout to settle', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const never = manualThenable();
      const outcomes = cold('(a|)', { a: ctx('a') }).pipe(
        runChain([handler<Rec, State>('stuck', () => never.thenable)], { timeout: 3, deferTimeout: 4 }),
        map((o) => o.kind),
      );
      expectObservable(outcomes).toBe('-------(o|)', { o: 'timeout' });
    });
  });

  it('holds the key until the timed-out handler settles: handlers never overlap for one key', () => {
    const running: string[] = [];
    let overlap = false;
    testScheduler.run(({ cold, expectObservable }) => {
      const work = handler<Rec, State>('work', (c) => {
        if (running.length > 0) overlap = true;
        running.push(c.record.id);
        const done = manualThenable();
        testScheduler.schedule(() => {
          running.splice(running.indexOf(c.record.id), 1);
          done.resolve();
        }, 6);
        return done.thenable;
      });
      const source = cold('(ab|)', { a: ctx('a1', 'k'), b: ctx('a2', 'k') });
      const outcomes = source.pipe(
        runChain([work], { timeout: 2 }),
        map((o) => (o.kind === 'invalid' ? o.kind : `${o.context.record.id}:${o.kind}`)),
      );
      expectObservable(outcomes).toBe('------x-----(y|)', { x: 'a1:timeout', y: 'a2:timeout' });
    });
    expect(overlap).toBe(false);
  });

  it('runs a defer registered from inside a running defer, once, and awaits it', () => {
    const log: string[] = [];
    testScheduler.run(({ cold, expectObservable }) => {
      const chain = [
        handler<Rec, State>('register', (c) => {
          c.defer(() => {
            log.push('outer');
            c.defer(() => {
              log.push('inner');
              return cold('--|');
            });
          });
        }),
      ];
      expectObservable(
        cold('(a|)', { a: ctx('a') }).pipe(
          runChain(chain),
          map((o) => o.kind),
        ),
      ).toBe('--(o|)', {
        o: 'ok',
      });
    });
    expect(log).toEqual(['outer', 'inner']);
  });

  it('runs a defer registered after the outcome at once, with the attempt end', () => {
    const log: string[] = [];
    let saved: Ctx | undefined;
    testScheduler.run(({ cold, expectObservable }) => {
      const chain = [handler<Rec, State>('keep', (c) => void (saved = c))];
      expectObservable(
        cold('(a|)', { a: ctx('a') }).pipe(
          runChain(chain),
          map((o) => o.kind),
        ),
      ).toBe('(o|)', {
        o: 'ok',
      });
    });
    saved?.defer((end) => void log.push(`late:${end}`));
    saved?.defer(() => {
      throw new Error('nowhere to report');
    });
    expect(log).toEqual(['late:ok']);
  });

  it.each([
    [{ timeout: Number.POSITIVE_INFINITY }],
    [{ deferTimeout: Number.POSITIVE_INFINITY }],
    [{ retry: { maxAttempts: 2, maxDelay: Number.POSITIVE_INFINITY } }],
    [{ timeout: 2 ** 31 - 1, deferTimeout: 2 ** 31 - 1, retry: { maxAttempts: 2, initialDelay: 2 ** 31 - 1 } }],
  ])('accepts Infinity as no limit and the longest timer: %j', (options) => {
    expect(() => runChain<Rec, State>([], options)).not.toThrow();
  });

  it.each([
    [{ timeout: 2 ** 31 }, 'timeout'],
    [{ deferTimeout: 1e12 }, 'deferTimeout'],
    [{ retry: { maxAttempts: 2, initialDelay: 2 ** 31 } }, 'retry.initialDelay'],
    [{ retry: { maxAttempts: 2, initialDelay: Number.POSITIVE_INFINITY } }, 'retry.initialDelay'],
    [{ retry: { maxAttempts: 2, maxDelay: 2 ** 40 } }, 'retry.maxDelay'],
    [{ timeout: Number.NaN }, 'timeout'],
  ])('rejects %j, which a timer cannot hold, with a ConfigError naming %s', (options, field) => {
    const create = () => runChain<Rec, State>([], options);
    expect(create).toThrow(ConfigError);
    expect(create).toThrow(`Invalid option \`${field}\``);
    if (!Number.isNaN((options as { timeout?: number }).timeout)) expect(create).toThrow('2147483647');
  });

  it('never waits with Infinity: no deadline, no defer bound', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const chain = [
        handler<Rec, State>('slow', (c) => {
          c.defer(() => cold('----------|'));
          return cold('-----|');
        }),
      ];
      const outcomes = cold('(a|)', { a: ctx('a') }).pipe(
        runChain(chain, { timeout: Number.POSITIVE_INFINITY, deferTimeout: Number.POSITIVE_INFINITY }),
        map((o) => `${o.kind}:${String(o.deferErrors.length)}`),
      );
      expectObservable(outcomes).toBe('15ms (o|)', { o: 'ok:0' });
    });
  });

  it('caps a growing retry delay at the longest timer when maxDelay is Infinity', () => {
    const starts: number[] = [];
    testScheduler.run(({ cold, expectObservable }) => {
      const chain = [
        handler<Rec, State>('flaky', () => {
          starts.push(testScheduler.now());
          throw new Error('again');
        }),
      ];
      const initialDelay = 2 ** 30;
      const outcomes = cold('(a|)', { a: ctx('a') }).pipe(
        runChain(chain, {
          retry: { maxAttempts: 3, initialDelay, multiplier: 4, maxDelay: Number.POSITIVE_INFINITY, jitter: 0 },
        }),
        map((o) => o.kind),
      );
      expectObservable(outcomes).toBe(`${String(initialDelay + 2 ** 31 - 1)}ms (o|)`, { o: 'failed' });
    });
    expect(starts).toEqual([0, 2 ** 30, 2 ** 30 + 2 ** 31 - 1]);
  });
});

describe('runChain: user code that breaks ends only its own record', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  /** Runs `broken` on record `a` and a healthy chain on `b`; returns kinds and the defer log. */
  function isolates(broken: Handler<Rec, State>, marbles: { a: string; expected: string }): string[] {
    const log: string[] = [];
    testScheduler.run(({ cold, expectObservable }) => {
      const register = handler<Rec, State>('register', (c) => c.defer(() => void log.push(`defer:${c.record.id}`)));
      const maybeBroken: Handler<Rec, State> = (source) =>
        source.pipe(mergeMap((c) => (c.record.id === 'a' ? from([c]).pipe(broken) : from([c]))));
      const outcomes = cold(marbles.a, { a: ctx('a', 'a'), b: ctx('b', 'b') }).pipe(
        runChain([register, named('maybe-broken', maybeBroken)], { ordering: 'unordered' }),
        map((o) => (o.kind === 'invalid' ? o.kind : `${o.context.record.id}:${o.kind}`)),
      );
      expectObservable(outcomes).toBe(marbles.expected, { x: 'a:failed', y: 'b:ok' });
    });
    return log;
  }

  it('an operator handler that throws when applied fails its record only', () => {
    const throwsWhenApplied: Handler<Rec, State> = () => {
      throw new Error('bad operator');
    };
    expect(isolates(throwsWhenApplied, { a: 'ab|', expected: 'xy|' })).toEqual(['defer:a', 'defer:b']);
  });

  it('an operator handler that throws when applied after an async handler fails its record only', () => {
    const log: string[] = [];
    testScheduler.run(({ cold, expectObservable }) => {
      const chain: Handler<Rec, State>[] = [
        handler('async', (c) => {
          c.defer(() => void log.push(`defer:${c.record.id}`));
          return cold('--|');
        }),
        () => {
          throw new Error('bad operator');
        },
      ];
      const outcomes = cold('ab|', { a: ctx('a'), b: ctx('b') }).pipe(
        runChain(chain),
        map((o) => (o.kind === 'failed' ? `${o.kind}:${o.error.cause.message}` : o.kind)),
      );
      expectObservable(outcomes).toBe('--x(x|)', { x: 'failed:bad operator' });
    });
    expect(log).toEqual(['defer:a', 'defer:b']);
  });

  it('the same after a real Promise handler, without an unhandled rejection', async () => {
    const chain: Handler<Rec, State>[] = [
      handler('async', async () => {
        await Promise.resolve();
      }),
      () => {
        throw new Error('bad operator');
      },
    ];
    const outcomes = await firstValueFrom(from([ctx('a'), ctx('b')]).pipe(runChain(chain), toArray()));
    expect(outcomes.map((o) => o.kind)).toEqual(['failed', 'failed']);
  });

  it('a throwing retryable predicate fails the record with its error, defers run once', () => {
    const log: string[] = [];
    testScheduler.run(({ cold, expectObservable }) => {
      const chain = [
        handler<Rec, State>('flaky', (c) => {
          c.defer(() => void log.push(`defer:${c.record.id}`));
          throw new Error('flaky');
        }),
      ];
      const outcomes = cold('ab|', { a: ctx('a'), b: ctx('b') }).pipe(
        runChain(chain, {
          retry: {
            maxAttempts: 3,
            retryable: (_error, c) => {
              if (c.record.id === 'a') throw new Error('predicate broke');
              return false;
            },
          },
        }),
        map((o) => (o.kind === 'failed' ? `${o.kind}:${o.error.message}` : o.kind)),
      );
      expectObservable(outcomes).toBe('xy|', {
        x: 'failed:Handler "flaky" failed: retry.retryable threw: predicate broke',
        y: 'failed:Handler "flaky" failed: flaky',
      });
    });
    expect(log).toEqual(['defer:a', 'defer:b']);
  });

  it.each([
    [
      'resolves twice',
      (t: ReturnType<typeof manualThenable>) => {
        t.resolve();
        t.resolve();
      },
      'ok',
    ],
    [
      'resolves then rejects',
      (t: ReturnType<typeof manualThenable>) => {
        t.resolve();
        t.reject(new Error('x'));
      },
      'ok',
    ],
    [
      'rejects then resolves',
      (t: ReturnType<typeof manualThenable>) => {
        t.reject(new Error('x'));
        t.resolve();
      },
      'failed',
    ],
  ])('a PromiseLike that %s counts once: the next handler and the defers run once', (_what, settle, kind) => {
    const log: string[] = [];
    testScheduler.run(({ cold, expectObservable }) => {
      const thenable = manualThenable();
      const chain = [
        handler<Rec, State>('twice', (c) => {
          c.defer(() => void log.push('defer'));
          return thenable.thenable;
        }),
        handler<Rec, State>('next', () => {
          log.push('next');
          return cold('-|');
        }),
      ];
      testScheduler.schedule(() => settle(thenable), 2);
      expectObservable(
        cold('(a|)', { a: ctx('a') }).pipe(
          runChain(chain),
          map((o) => o.kind),
        ),
      ).toBe(kind === 'ok' ? '---(o|)' : '--(o|)', { o: kind });
    });
    expect(log).toEqual(kind === 'ok' ? ['next', 'defer'] : ['defer']);
  });

  it('a PromiseLike whose then() throws fails its record', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const chain = [
        handler<Rec, State>('bad-then', () => ({
          then() {
            throw new Error('then broke');
          },
        })),
      ];
      expectObservable(
        cold('(a|)', { a: ctx('a') }).pipe(
          runChain(chain),
          map((o) => (o.kind === 'failed' ? o.error.cause.message : o.kind)),
        ),
      ).toBe('(o|)', { o: 'then broke' });
    });
  });

  it('an invalid record does not overtake an earlier outcome of its key (key and partition modes)', () => {
    for (const ordering of ['key', 'partition'] as const) {
      new TestScheduler(observableMatcher).run(({ cold, expectObservable }) => {
        const invalid = invalidOutcome(ctx('x', 'k').source, new InvalidRecordError('schema', 'bad'));
        const chain = [handler<Rec, State>('work', () => cold('---|'))];
        const outcomes = cold('(ai|)', { a: ctx('a', 'k'), i: invalid }).pipe(
          runChain(chain, { ordering }),
          map((o) => o.kind),
        );
        expectObservable(outcomes).toBe('---(oi|)', { o: 'ok', i: 'invalid' });
      });
    }
  });

  it('leaves nothing on the outer signal but its one shared listener after unsubscribing, mid-handler or mid-backoff', () => {
    for (const phase of ['handler', 'backoff'] as const) {
      const { controller, listeners } = countingSignal();
      const testScheduler = new TestScheduler(observableMatcher);
      testScheduler.run(({ cold, expectObservable }) => {
        const chain = [
          handler<Rec, State>('work', () => {
            if (phase === 'backoff') throw new Error('retry me');
            return cold('-----|');
          }),
        ];
        const context = (id: string) => testContext<Rec, State>({ id }, { signal: controller.signal });
        const source = cold('(abc|)', { a: context('a'), b: context('b'), c: context('c') });
        const outcomes = source.pipe(
          runChain(chain, { retry: { maxAttempts: 2, initialDelay: 10 }, ordering: 'unordered' }),
        );
        // Three records wait on the signal through one listener (abortWhen fans out to them).
        testScheduler.schedule(() => {
          expect(listeners()).toBe(1);
          expect(abortWaiters(controller.signal)).toBe(3);
        }, 2);
        expectObservable(outcomes, '^--!').toBe('----');
      });
      expect(listeners()).toBe(1);
      expect(abortWaiters(controller.signal)).toBe(0);
      // The records left it: an abort now reaches none of them (nothing throws, nothing is emitted).
      expect(() => {
        controller.abort(new Error('late'));
      }).not.toThrow();
    }
  });

  it('a record that ends leaves the outer signal, whether its handler finished, failed or timed out', () => {
    const { controller } = countingSignal();
    testScheduler.run(({ cold, expectObservable }) => {
      const chain = [
        handler<Rec, State>('work', (c) =>
          c.record.id === 'fail' ? cold('--#') : c.record.id === 'slow' ? cold('--------------------|') : cold('--|'),
        ),
      ];
      const context = (id: string) => testContext<Rec, State>({ id }, { signal: controller.signal });
      const source = cold('(abc|)', { a: context('ok'), b: context('fail'), c: context('slow') });
      const kinds = source.pipe(
        runChain(chain, { ordering: 'unordered', timeout: 8 }),
        map((o) => o.kind),
      );
      testScheduler.schedule(() => expect(abortWaiters(controller.signal)).toBe(3), 1);
      expectObservable(kinds).toBe('--(of)--(t|)', { o: 'ok', f: 'failed', t: 'timeout' });
    });
    expect(abortWaiters(controller.signal)).toBe(0);
  });

  it('a context not made by createContext is a TypeError that says so', () => {
    const fake = { record: { id: 'a' }, signal: new AbortController().signal } as unknown as Ctx;
    testScheduler.run(({ cold, expectObservable }) => {
      expectObservable(cold('a', { a: fake }).pipe(runChain<Rec, State>([]))).toBe(
        '#',
        undefined,
        new TypeError('runChain: inputs must come from createContext() or be invalid outcomes'),
      );
    });
  });
});

describe('runChain: a plain RxJS operator is a first-class handler', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  const kindAndCause = (o: Outcome<Rec, State>): string =>
    o.kind === 'failed' ? `failed:${o.error.cause.name}` : o.kind === 'timeout' ? `timeout:${o.error.name}` : o.kind;

  it('a map() returning a new context fails the record with a clear error, instead of being ignored', () => {
    let error: HandlerError | undefined;
    testScheduler.run(({ cold, expectObservable }) => {
      const copy = named<Rec, State>(
        'copy',
        map((c) => ({ ...c })),
      );
      const outcomes = cold('(a|)', { a: ctx('a') }).pipe(
        runChain([copy]),
        map((o) => {
          if (o.kind === 'failed') error = o.error;
          return kindAndCause(o);
        }),
      );
      expectObservable(outcomes).toBe('(o|)', { o: 'failed:TypeError' });
    });
    expect(error?.handler).toBe('copy');
    expect(error?.message).toContain('emitted another object instead of the context it was given');
  });

  it("the chain's own deadline is a timeout whatever the handler's form", () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const forms: Handler<Rec, State>[] = [
        named('operator', delay(5)),
        handler('observable', () => cold('-----|')),
        named(
          'inner-switch',
          mergeMap((c: Ctx) => cold('-----(c|)', { c })),
        ),
      ];
      for (const form of forms) {
        const outcomes = cold('(a|)', { a: ctx('a') }).pipe(runChain([form], { timeout: 2 }), map(kindAndCause));
        expectObservable(outcomes).toBe('--(o|)', { o: 'timeout:DeadlineExceededError' });
      }
    });
  });

  it("a handler's own inner RxJS timeout() is a failure with its TimeoutError", () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const own = named<Rec, State>(
        'own-timeout',
        mergeMap((c) => cold('-----(c|)', { c }).pipe(timeout(2))),
      );
      const outcomes = cold('(a|)', { a: ctx('a') }).pipe(runChain([own], { timeout: 10 }), map(kindAndCause));
      expectObservable(outcomes).toBe('--(o|)', { o: 'failed:TimeoutError' });
    });
  });

  it('an operator handler sees one record at a time: distinct() does not act across records', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const distinctIds = named<Rec, State>(
        'distinct',
        distinct((c) => c.record.id),
      );
      const outcomes = cold('(ab|)', { a: ctx('same', 'k1'), b: ctx('same', 'k2') }).pipe(
        runChain([distinctIds]),
        map((o) => o.kind),
      );
      expectObservable(outcomes).toBe('(oo|)', { o: 'ok' });
    });
  });

  it('a record-agnostic handler runs in any chain', () => {
    const seen: unknown[] = [];
    const audit = handler<unknown, object>('audit', (c) => void seen.push(c.record));
    testScheduler.run(({ cold, expectObservable }) => {
      const outcomes = cold('(a|)', { a: ctx('a') }).pipe(
        runChain<Rec, State>([audit]),
        map((o) => o.kind),
      );
      expectObservable(outcomes).toBe('(o|)', { o: 'ok' });
    });
    expect(seen).toEqual([{ id: 'a' }]);
  });

  it('lists the nested options of a misspelled nested option, with a did-you-mean hint', () => {
    const create = (retry: object) => () => runChain<Rec, State>([], { retry } as never);
    expect(create({ maxAtempts: 3 })).toThrow(ConfigError);
    expect(create({ maxAttempts: 3, maxAtempts: 3 })).toThrow(
      'Invalid option `retry.maxAtempts`: expected a known option (maxAttempts, initialDelay, maxDelay, multiplier, jitter, retryable, random); did you mean `maxAttempts`?',
    );
    expect(create({ maxAttempts: 3, backof: 10 })).toThrow(
      'Invalid option `retry.backof`: expected a known option (maxAttempts, initialDelay, maxDelay, multiplier, jitter, retryable, random), received 10',
    );
  });
});

describe("runChain: the README's enrich pattern, in real time", () => {
  it('a handler that ignores the signal and acquires after the deadline still has its resource released before the outcome', async () => {
    const log: string[] = [];
    const enrich = handler<Rec, State>('enrich', async (c) => {
      await new Promise((resolve) => setTimeout(resolve, 40)); // ignores the signal
      log.push('acquired');
      c.defer((end) => void log.push(`released:${end}`));
    });
    const outcomes = await firstValueFrom(
      from([ctx('a')]).pipe(
        runChain([enrich], { timeout: 10 }),
        map((o) => {
          log.push(`outcome:${o.kind}`);
          return o;
        }),
        toArray(),
      ),
    );
    expect(outcomes).toHaveLength(1);
    expect(log).toEqual(['acquired', 'released:timeout', 'outcome:timeout']);
  });
});
