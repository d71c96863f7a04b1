import { delay, filter, firstValueFrom, from, map, mergeMap, throwError, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { observableMatcher, testContext } from '@rxkafka/testing';
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
  });
});
