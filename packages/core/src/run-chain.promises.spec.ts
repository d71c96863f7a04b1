/**
 * The README's promises about `runChain` that no other spec pins down (defaults, partition versus key
 * ordering, the outer signal, several async defers, outcome and context fields, retries, the
 * `scheduler` option). Each test fails if the promise it names regresses.
 */
import { firstValueFrom, from, NEVER, of, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { observableMatcher, testContext } from '@rxkafka/testing';
import { createContext, type Context, type OutputRecord, type SourceRecord } from './context.js';
import { AbortedError, DeadlineExceededError, DeferError, HandlerError, InvalidRecordError } from './errors.js';
import { BREAK, handler } from './handler.js';
import { PoolGauges } from './merge-map-by-key.js';
import { invalidOutcome, type Outcome } from './outcome.js';
import { runChain, type RunChainOptions } from './run-chain.js';

interface Rec {
  readonly id: string;
}
type State = Record<string, unknown>;
type Ctx = Context<Rec, State>;

interface Coordinates {
  readonly key?: string | null;
  readonly partition?: number;
  readonly topic?: string;
  readonly signal?: AbortSignal;
}

/** A context whose key is its id unless given (`null`: no key). */
function ctx(id: string, at: Coordinates = {}): Ctx {
  return testContext<Rec, State>(
    { id },
    {
      key: at.key === undefined ? id : at.key,
      partition: at.partition ?? 0,
      topic: at.topic ?? 'test-topic',
      ...(at.signal === undefined ? {} : { signal: at.signal }),
    },
  );
}

/** Subscribes now and records each value with the scheduler time it arrived at. */
function collect<T>(scheduler: TestScheduler, source: Observable<T>): { readonly value: T; readonly at: number }[] {
  const seen: { value: T; at: number }[] = [];
  source.subscribe((value) => seen.push({ value, at: scheduler.now() }));
  return seen;
}

/** A PromiseLike resolved by hand, synchronously, so that it settles in virtual time. */
function manualThenable(): { readonly thenable: PromiseLike<unknown>; resolve(): void } {
  const callbacks: ((value: unknown) => unknown)[] = [];
  return {
    thenable: {
      then(onFulfilled) {
        if (onFulfilled) callbacks.push(onFulfilled);
        return undefined as never;
      },
    },
    resolve: () => {
      for (const fulfilled of callbacks) fulfilled(undefined);
    },
  };
}

const FAILS = new Error('try again');

describe('runChain README promises: defaults', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  it('concurrency defaults to 16: of 17 asynchronous records, 16 run at once and the 17th waits for a worker', () => {
    const starts: number[] = [];
    const gauges = new PoolGauges();
    const seen = testScheduler.run(({ cold }) => {
      const chain = [
        handler<Rec, State>('work', () => {
          starts.push(testScheduler.now());
          return cold('-----|');
        }),
      ];
      const records = Array.from({ length: 17 }, (_, i) => ctx(`r${String(i)}`));
      return collect(testScheduler, from(records).pipe(runChain(chain, { gauges })));
    });
    expect(starts).toEqual([...Array.from({ length: 16 }, () => 0), 5]);
    expect(seen.map((s) => s.at)).toEqual([...Array.from({ length: 16 }, () => 5), 10]);
    expect(gauges.peakActive).toBe(16);
  });

  it('deferTimeout defaults to 5000: a stuck async defer is given up at 5000 ms with a DeferError', () => {
    const seen = testScheduler.run(() => {
      const chain = [
        handler<Rec, State>('register', (c) => {
          c.defer(() => NEVER);
        }),
      ];
      return collect(testScheduler, of(ctx('a')).pipe(runChain(chain)));
    });
    expect(seen.map((s) => [s.value.kind, s.at])).toEqual([['ok', 5000]]);
    expect(seen[0]?.value.deferErrors).toEqual([new DeferError(0, new Error('defer did not settle within 5000 ms'))]);
    expect(seen[0]?.value.durationMs).toBe(5000);
  });

  it('deferTimeout defaults to 5000 for a timed-out Promise handler that never settles too', () => {
    const seen = testScheduler.run(() => {
      const chain = [handler<Rec, State>('stuck', () => manualThenable().thenable)];
      return collect(testScheduler, of(ctx('a')).pipe(runChain(chain, { timeout: 10 })));
    });
    expect(seen.map((s) => [s.value.kind, s.at])).toEqual([['timeout', 5010]]);
  });

  it('retry defaults to one attempt', () => {
    let calls = 0;
    const seen = testScheduler.run(() => {
      const chain = [
        handler<Rec, State>('flaky', () => {
          calls++;
          throw FAILS;
        }),
      ];
      return collect(testScheduler, of(ctx('a')).pipe(runChain(chain)));
    });
    expect(seen.map((s) => [s.value.kind, s.value.attempt, s.at])).toEqual([['failed', 1, 0]]);
    expect(calls).toBe(1);
  });

  /** When each attempt of one always-failing record starts, with the given retry options. */
  const attemptStarts = (retry: RunChainOptions<Rec, State>['retry'], records = 1): number[][] => {
    const starts = new Map<string, number[]>();
    // A scheduler per call: each run starts at time 0.
    const testScheduler = new TestScheduler(observableMatcher);
    testScheduler.run(() => {
      const chain = [
        handler<Rec, State>('flaky', (c) => {
          starts.set(c.record.id, [...(starts.get(c.record.id) ?? []), testScheduler.now()]);
          throw FAILS;
        }),
      ];
      const contexts = Array.from({ length: records }, (_, i) => ctx(`r${String(i)}`));
      const options: RunChainOptions<Rec, State> = retry === undefined ? {} : { retry };
      from(contexts)
        .pipe(runChain(chain, { ...options, concurrency: records }))
        .subscribe();
    });
    return [...starts.values()];
  };

  it('retry backoff defaults: initialDelay 100, multiplier 2, jitter 0.2', () => {
    // random 0.5 takes 0.2 × 0.5 = 10% off each delay: 90, then 180.
    expect(attemptStarts({ maxAttempts: 3, random: () => 0.5 })).toEqual([[0, 90, 270]]);
    // No jitter taken at random 0: the bare exponential series 100, 200, 400.
    expect(attemptStarts({ maxAttempts: 4, random: () => 0 })).toEqual([[0, 100, 300, 700]]);
  });

  it('retry maxDelay defaults to 30 s', () => {
    // 20 s, then 40 s capped to 30 s.
    expect(attemptStarts({ maxAttempts: 3, initialDelay: 20_000, random: () => 0 })).toEqual([[0, 20_000, 50_000]]);
  });

  it('retry jitter defaults to 0.2 with Math.random: each delay within [80 %, 100 %] of its base, and varied', () => {
    const perRecord = attemptStarts({ maxAttempts: 3 }, 10);
    expect(perRecord).toHaveLength(10);
    const first: number[] = [];
    for (const [start, second, third] of perRecord) {
      expect(start).toBe(0);
      const delay1 = (second ?? Number.NaN) - (start ?? Number.NaN);
      const delay2 = (third ?? Number.NaN) - (second ?? Number.NaN);
      expect(delay1).toBeGreaterThanOrEqual(80);
      expect(delay1).toBeLessThanOrEqual(100);
      expect(delay2).toBeGreaterThanOrEqual(160);
      expect(delay2).toBeLessThanOrEqual(200);
      first.push(delay1);
    }
    // Jitter is on by default: ten draws of Math.random do not all land on the bare delay.
    expect(first.some((delay) => delay < 100)).toBe(true);
  });

  it('retry retries every failure by default, timeouts included', () => {
    const seen = testScheduler.run(() => {
      const chain = [handler<Rec, State>('slow', () => NEVER)];
      return collect(
        testScheduler,
        of(ctx('a')).pipe(runChain(chain, { timeout: 5, retry: { maxAttempts: 2, random: () => 0 } })),
      );
    });
    // 5 (deadline) + 100 (default initial delay) + 5 (deadline).
    expect(seen.map((s) => [s.value.kind, s.value.attempt, s.at])).toEqual([['timeout', 2, 110]]);
  });
});

describe('runChain README promises: ordering', () => {
  /** When each record's (3 ms) handler started, by id. */
  const starts = (options: RunChainOptions<Rec, State>, records: () => Ctx[]): Record<string, number> => {
    const started: Record<string, number> = {};
    const testScheduler = new TestScheduler(observableMatcher);
    testScheduler.run(({ cold }) => {
      const chain = [
        handler<Rec, State>('work', (c) => {
          started[c.record.id] = testScheduler.now();
          return cold('---|');
        }),
      ];
      from(records()).pipe(runChain(chain, options)).subscribe();
    });
    return started;
  };

  const twoKeysOnePartition = () => [ctx('a', { key: 'x', partition: 0 }), ctx('b', { key: 'y', partition: 0 })];
  const oneKeyTwoPartitions = () => [ctx('a', { key: 'k', partition: 0 }), ctx('b', { key: 'k', partition: 1 })];
  const oneKeyTwoTopics = () => [
    ctx('a', { key: 'k', topic: 'orders', partition: 0 }),
    ctx('b', { key: 'k', topic: 'payments', partition: 0 }),
  ];

  it("'partition': two different keys of one partition never overlap", () => {
    expect(starts({ ordering: 'partition' }, twoKeysOnePartition)).toEqual({ a: 0, b: 3 });
  });

  it.each([['key'], [undefined]] as const)(
    "'key' (ordering %s, the default): two different keys of one partition run at once",
    (ordering) => {
      expect(starts(ordering === undefined ? {} : { ordering }, twoKeysOnePartition)).toEqual({ a: 0, b: 0 });
    },
  );

  it("'partition': one key in two partitions runs at once", () => {
    expect(starts({ ordering: 'partition' }, oneKeyTwoPartitions)).toEqual({ a: 0, b: 0 });
  });

  it.each([['key'], [undefined]] as const)(
    "'key' (ordering %s, the default): one key in two partitions never overlaps",
    (ordering) => {
      expect(starts(ordering === undefined ? {} : { ordering }, oneKeyTwoPartitions)).toEqual({ a: 0, b: 3 });
    },
  );

  it("'partition': a partition is a topic's: partition 0 of two topics runs at once", () => {
    expect(starts({ ordering: 'partition' }, oneKeyTwoTopics)).toEqual({ a: 0, b: 0 });
  });

  it("'key': one key never overlaps, even across topics", () => {
    expect(starts({ ordering: 'key' }, oneKeyTwoTopics)).toEqual({ a: 0, b: 3 });
  });

  it("'key': equal keys run one at a time, in input order", () => {
    const three = () => ['a', 'b', 'c'].map((id) => ctx(id, { key: 'k' }));
    expect(starts({ ordering: 'key' }, three)).toEqual({ a: 0, b: 3, c: 6 });
  });

  it("'key': records without a key (null) carry no order and run at once; 'partition' still orders them", () => {
    const keyless = () => ['a', 'b', 'c'].map((id) => ctx(id, { key: null }));
    expect(starts({ ordering: 'key' }, keyless)).toEqual({ a: 0, b: 0, c: 0 });
    expect(starts({ ordering: 'partition' }, keyless)).toEqual({ a: 0, b: 3, c: 6 });
  });
});

describe('runChain README promises: the outer signal (shutdown, revoke)', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  it('ctx.signal aborts on an outer abort, with the reason, and the handler sees it at once', () => {
    const controller = new AbortController();
    const revoke = new Error('partition revoked');
    let sawAbort: { at: number; reason: unknown } | undefined;
    let sameSignal = false;
    const seen = testScheduler.run(({ cold }) => {
      testScheduler.schedule(() => controller.abort(revoke), 2);
      const chain = [
        handler<Rec, State>('work', (c, signal) => {
          sameSignal = signal === c.signal;
          signal.addEventListener('abort', () => {
            sawAbort = { at: testScheduler.now(), reason: signal.reason };
          });
          return cold('-----|');
        }),
      ];
      return collect(testScheduler, of(ctx('a', { signal: controller.signal })).pipe(runChain(chain)));
    });
    expect(sameSignal).toBe(true);
    expect(sawAbort?.at).toBe(2);
    expect(sawAbort?.reason).toEqual(new AbortedError(revoke));
    expect((sawAbort?.reason as AbortedError | undefined)?.cause).toBe(revoke);
    expect(seen.map((s) => [s.value.kind, s.at])).toEqual([['aborted', 2]]);
    const outcome = seen[0]?.value;
    expect(outcome?.kind === 'aborted' && outcome.context.signal.aborted).toBe(true);
  });

  it('a handler awaiting a Promise on its signal sees the outer abort, and the outcome waits for it (real time)', async () => {
    const controller = new AbortController();
    const shutdown = new Error('shutting down');
    const log: string[] = [];
    const chain = [
      handler<Rec, State>('wait', async (_c, signal) => {
        const reason = await new Promise((resolve) => {
          signal.addEventListener(
            'abort',
            () => {
              resolve(signal.reason);
            },
            { once: true },
          );
        });
        log.push(reason instanceof AbortedError && reason.cause === shutdown ? 'saw shutdown' : 'saw something else');
      }),
    ];
    setTimeout(() => {
      controller.abort(shutdown);
    }, 5);
    const outcome = await firstValueFrom(of(ctx('a', { signal: controller.signal })).pipe(runChain(chain)));
    log.push(`outcome ${outcome.kind}`);
    expect(log).toEqual(['saw shutdown', 'outcome aborted']);
  });

  it('an outer abort during a retry backoff ends the record aborted at once, with no further attempt', () => {
    const controller = new AbortController();
    const revoke = new Error('partition revoked');
    const attempts: number[] = [];
    const seen = testScheduler.run(() => {
      testScheduler.schedule(() => controller.abort(revoke), 4);
      const chain = [
        handler<Rec, State>('flaky', (c) => {
          attempts.push(c.attempt);
          throw FAILS;
        }),
      ];
      return collect(
        testScheduler,
        of(ctx('a', { signal: controller.signal })).pipe(
          runChain(chain, { retry: { maxAttempts: 3, initialDelay: 10, jitter: 0 } }),
        ),
      );
    });
    // The run flushed every timer: had the backoff gone on, attempt 2 would have run at 10.
    expect(attempts).toEqual([1]);
    expect(seen.map((s) => [s.value.kind, s.value.attempt, s.at])).toEqual([['aborted', 1, 4]]);
    const outcome = seen[0]?.value;
    expect(outcome?.kind === 'aborted' && outcome.handler).toBe('flaky');
    expect(outcome?.kind === 'aborted' && outcome.error).toEqual(new AbortedError(revoke));
  });
});

describe('runChain README promises: several async defers', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  it('run in reverse order, each awaited before the next starts, each bounded on its own; the outcome waits for all', () => {
    const log: string[] = [];
    const seen = testScheduler.run(({ cold }) => {
      const step = (name: string, frames: string) => () => {
        log.push(`${name}@${String(testScheduler.now())}`);
        return cold(frames);
      };
      const chain = [
        handler<Rec, State>('register', (c) => {
          c.defer(step('d1', '--|'));
          c.defer(step('d2', '---|'));
          c.defer(step('d3', '----|'));
        }),
      ];
      // Each takes less than deferTimeout (5), all of them together more (9).
      return collect(testScheduler, of(ctx('a')).pipe(runChain(chain, { deferTimeout: 5 })));
    });
    expect(log).toEqual(['d3@0', 'd2@4', 'd1@7']);
    expect(seen.map((s) => [s.value.kind, s.at, s.value.deferErrors.length])).toEqual([['ok', 9, 0]]);
  });

  it("wait for a timed-out Promise handler's settling within deferTimeout, then run in reverse, the late one first", () => {
    const log: string[] = [];
    const seen = testScheduler.run(({ cold }) => {
      const step = (name: string) => () => {
        log.push(`${name}@${String(testScheduler.now())}`);
        return cold('--|');
      };
      const chain = [
        handler<Rec, State>('enrich', (c) => {
          c.defer(step('d1'));
          c.defer(step('d2'));
          const settles = manualThenable();
          testScheduler.schedule(() => {
            c.defer(step('late'));
            settles.resolve();
          }, 6);
          return settles.thenable;
        }),
      ];
      // The deadline passes at 3; the Promise settles at 6, within deferTimeout (5) of it.
      return collect(testScheduler, of(ctx('a')).pipe(runChain(chain, { timeout: 3, deferTimeout: 5 })));
    });
    expect(log).toEqual(['late@6', 'd2@8', 'd1@10']);
    expect(seen.map((s) => [s.value.kind, s.at, s.value.deferErrors.length])).toEqual([['timeout', 12, 0]]);
  });
});

describe('runChain README promises: outcome and context fields', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  function source(id: string): SourceRecord {
    return {
      topic: 'orders',
      partition: 0,
      offset: 7,
      key: Buffer.from(id),
      value: Buffer.from(JSON.stringify({ id })),
      headers: [],
      timestamp: 1_700_000_000_000,
    };
  }

  it('each kind carries the context, source, handler, error, duration (scheduler ms), attempt, defer errors, ack and nack', () => {
    const calls: string[] = [];
    const controller = new AbortController();
    const make = (id: string): Ctx =>
      createContext<Rec, State>({
        record: { id },
        source: source(id),
        state: {},
        ack: () => calls.push(`ack:${id}`),
        nack: () => calls.push(`nack:${id}`),
        ...(id === 'aborted' ? { signal: controller.signal } : {}),
      });
    const inputs = {
      o: make('ok'),
      b: make('break'),
      f: make('failed'),
      t: make('timeout'),
      a: make('aborted'),
      i: invalidOutcome(source('invalid'), new InvalidRecordError('schema', 'not an order')),
    };
    const output: OutputRecord = { topic: 'out', value: 1 };
    const seen = testScheduler.run(({ cold }) => {
      testScheduler.schedule(() => controller.abort(new Error('revoked')), 3);
      const chain = [
        handler<Rec, State>('first', (c) => {
          switch (c.record.id) {
            case 'ok':
              c.emit(output);
              c.defer(() => cold('-|'));
              return cold('--|');
            case 'break':
              return cold('-|');
            case 'failed':
              return cold('--#', {}, FAILS);
            default:
              return NEVER;
          }
        }),
        handler<Rec, State>('second', (c) => (c.record.id === 'break' ? BREAK : undefined)),
      ];
      // Everything arrives at 1: durations count from the record's start, not from time 0.
      const input = cold<Ctx | typeof inputs.i>('-(obftai|)', inputs);
      return collect(testScheduler, input.pipe(runChain(chain, { timeout: 4, ordering: 'unordered' })));
    });
    const byKind = new Map(seen.map((s) => [s.value.kind, s] as const));
    expect([...byKind.keys()].sort()).toEqual(['aborted', 'break', 'failed', 'invalid', 'ok', 'timeout']);

    const expected: Record<string, { at: number; durationMs: number; handler?: string; error?: Error }> = {
      ok: { at: 4, durationMs: 3 }, // 2 ms handler + 1 ms defer
      break: { at: 2, durationMs: 1, handler: 'second' },
      failed: { at: 3, durationMs: 2, handler: 'first', error: new HandlerError('first', FAILS) },
      timeout: { at: 5, durationMs: 4, handler: 'first', error: new DeadlineExceededError('first', 4) },
      aborted: { at: 3, durationMs: 2, handler: 'first', error: new AbortedError(new Error('revoked')) },
    };
    for (const [kind, want] of Object.entries(expected)) {
      const got = byKind.get(kind as Outcome<Rec, State>['kind']);
      const outcome = got?.value;
      if (outcome === undefined || outcome.kind === 'invalid') throw new Error(`no ${kind} outcome`);
      const input = inputs[kind[0] as 'o' | 'b' | 'f' | 't' | 'a'];
      expect({ kind, at: got?.at, durationMs: outcome.durationMs }).toEqual({
        kind,
        at: want.at,
        durationMs: want.durationMs,
      });
      expect(outcome.context).toBe(input);
      expect(outcome.source).toBe(input.source);
      expect(outcome.attempt).toBe(1);
      expect(outcome.deferErrors).toEqual([]);
      expect('handler' in outcome ? outcome.handler : undefined).toBe(want.handler);
      expect('error' in outcome ? outcome.error : undefined).toEqual(want.error);
      if (want.error !== undefined) expect('error' in outcome && outcome.error).toBeInstanceOf(want.error.constructor);
      // A finite deadline: the record's start (1) plus the timeout.
      expect(outcome.context.deadline).toBe(5);
      outcome.ack();
      outcome.nack();
      expect(calls.splice(0)).toEqual([`ack:${kind}`, `nack:${kind}`]);
    }
    const ok = byKind.get('ok')?.value;
    expect(ok?.kind === 'ok' && ok.context.outputs).toEqual([output]);
    const invalid = byKind.get('invalid');
    expect(invalid?.at).toBe(1);
    expect(invalid?.value).toMatchObject({ kind: 'invalid', attempt: 1, durationMs: 0, deferErrors: [] });
    expect(invalid?.value.kind === 'invalid' && invalid.value.error).toBeInstanceOf(InvalidRecordError);
    expect(invalid?.value).not.toHaveProperty('context');
  });

  it('ctx.deadline is Infinity without a timeout', () => {
    let during = 0;
    const seen = testScheduler.run(({ cold }) => {
      const chain = [
        handler<Rec, State>('read', (c) => {
          during = c.deadline;
          return cold('--|');
        }),
      ];
      return collect(testScheduler, cold('-a', { a: ctx('a') }).pipe(runChain(chain)));
    });
    expect(during).toBe(Number.POSITIVE_INFINITY);
    const outcome = seen[0]?.value;
    expect(outcome?.kind === 'ok' && outcome.context.deadline).toBe(Number.POSITIVE_INFINITY);
  });

  it('the timeout is per attempt: each attempt gets its own deadline, and durationMs spans them all', () => {
    const deadlines: number[] = [];
    const seen = testScheduler.run(({ cold }) => {
      const chain = [
        handler<Rec, State>('slow', (c) => {
          deadlines.push(c.deadline);
          return NEVER;
        }),
      ];
      return collect(
        testScheduler,
        cold('--a', { a: ctx('a') }).pipe(
          runChain(chain, { timeout: 100, retry: { maxAttempts: 2, initialDelay: 10, jitter: 0 } }),
        ),
      );
    });
    // Attempt 1 starts at 2 and times out at 102; attempt 2 starts after a 10 ms backoff.
    expect(deadlines).toEqual([102, 212]);
    expect(seen.map((s) => [s.value.kind, s.value.attempt, s.at, s.value.durationMs])).toEqual([
      ['timeout', 2, 212, 210],
    ]);
  });

  it('the context has the record coordinates: key and headers decoded as UTF-8 (last value wins), timestamp', () => {
    let seenCtx: Ctx | undefined;
    const context = createContext<Rec, State>({
      record: { id: 'a' },
      source: {
        topic: 'orders',
        partition: 3,
        offset: 42,
        key: Buffer.from('clé-✓', 'utf8'),
        value: null,
        headers: [
          { key: 'trace', value: Buffer.from('first') },
          { key: 'ünï', value: Buffer.from('wert ✓', 'utf8') },
          { key: 'trace', value: Buffer.from('second') },
        ],
        timestamp: 1_700_000_000_123,
      },
      state: {},
    });
    testScheduler.run(() => {
      const chain = [handler<Rec, State>('read', (c) => void (seenCtx = c))];
      of(context).pipe(runChain(chain)).subscribe();
    });
    expect(seenCtx).toBe(context);
    expect({
      topic: seenCtx?.topic,
      partition: seenCtx?.partition,
      offset: seenCtx?.offset,
      key: seenCtx?.key,
      headers: seenCtx?.headers,
      timestamp: seenCtx?.timestamp,
      attempt: seenCtx?.attempt,
    }).toEqual({
      topic: 'orders',
      partition: 3,
      offset: 42,
      key: 'clé-✓',
      headers: { trace: 'second', ünï: 'wert ✓' },
      timestamp: 1_700_000_000_123,
      attempt: 1,
    });
    expect(createContext({ record: 1, source: { ...context.source, key: null }, state: {} }).key).toBeNull();
  });
});

describe('runChain README promises: across retries', () => {
  it('state is shared by the attempts of one record, while each attempt starts with fresh outputs and defers', () => {
    const testScheduler = new TestScheduler(observableMatcher);
    const log: string[] = [];
    const contexts: Ctx[] = [];
    const outputsAtStart: number[] = [];
    const seen = testScheduler.run(() => {
      const chain = [
        handler<Rec, State>('flaky', (c) => {
          contexts.push(c);
          outputsAtStart.push(c.outputs.length);
          c.state['attempts'] = [...((c.state['attempts'] as number[] | undefined) ?? []), c.attempt];
          c.emit({ topic: 'out', value: `from attempt ${String(c.attempt)}` });
          c.defer((end) => void log.push(`attempt ${String(c.attempt)}:${end}`));
          if (c.attempt === 1) throw FAILS;
        }),
      ];
      return collect(
        testScheduler,
        of(ctx('a')).pipe(
          runChain(chain, {
            retry: { maxAttempts: 2, initialDelay: 5, jitter: 0 },
            defers: [(end) => void log.push(`static:${end}`)],
          }),
        ),
      );
    });
    const [first, second] = contexts;
    expect(contexts).toHaveLength(2);
    expect(second).not.toBe(first);
    expect(second?.state).toBe(first?.state);
    expect(second?.state['attempts']).toEqual([1, 2]);
    expect(outputsAtStart).toEqual([0, 0]);
    // Attempt 1's defers ran once, after attempt 1, and not again.
    expect(log).toEqual(['attempt 1:failed', 'static:failed', 'attempt 2:ok', 'static:ok']);
    const outcome = seen[0]?.value;
    expect(outcome?.kind).toBe('ok');
    expect(outcome?.attempt).toBe(2);
    expect(outcome?.kind === 'ok' && outcome.context).toBe(second);
    expect(outcome?.kind === 'ok' && outcome.context.outputs).toEqual([{ topic: 'out', value: 'from attempt 2' }]);
  });
});

describe('runChain README promises: the scheduler option', () => {
  it('times deadlines, backoff, deferTimeout and durations on an explicit scheduler', () => {
    // Not in run mode: asyncScheduler stays on real time, so only the option can make this virtual.
    const virtual = new TestScheduler(observableMatcher);
    const starts: number[] = [];
    const outcomes: Outcome<Rec, State>[] = [];
    const chain = [
      handler<Rec, State>('stuck', (c) => {
        starts.push(virtual.now());
        c.defer(() => NEVER);
        return NEVER;
      }),
    ];
    const options: RunChainOptions<Rec, State> = {
      scheduler: virtual,
      timeout: 30,
      deferTimeout: 5,
      retry: { maxAttempts: 2, initialDelay: 10, jitter: 0 },
    };
    const subscription = of(ctx('a'))
      .pipe(runChain(chain, options))
      .subscribe((outcome) => outcomes.push(outcome));
    try {
      expect(outcomes).toEqual([]);
      virtual.flush();
      // Attempt 1: deadline at 30, its stuck defer given up at 35; backoff 10; attempt 2 from 45 to 75, defer to 80.
      expect(starts).toEqual([0, 45]);
      expect(outcomes.map((o) => [o.kind, o.attempt, o.durationMs])).toEqual([['timeout', 2, 80]]);
      const outcome = outcomes[0];
      expect(outcome?.kind === 'timeout' && outcome.context.deadline).toBe(75);
      expect(outcome?.deferErrors).toEqual([new DeferError(0, new Error('defer did not settle within 5 ms'))]);
    } finally {
      subscription.unsubscribe();
    }
  });
});
