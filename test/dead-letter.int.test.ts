/**
 * The dead-letter topic, read back from the real broker: one record per reason (handler error
 * after retries, timeout, undecodable bytes, schema violation, tombstone), each with its headers
 * and the original key and value bytes; and a poison pill in key mode that retries with backoff
 * without stalling the other keys.
 */
import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import {
  DeadlineExceededError,
  HandlerError,
  handler,
  runChain,
  type AttemptEnd,
  type SourceRecord,
} from '@rxkafka/core';
import { DLQ_HEADERS, fromKafka, runService, toKafka, emptyOutcomeCounts } from '@rxkafka/kafka';
import { produceRecords, type PlainRecord } from '@rxkafka/kafka/admin';
import {
  brokers,
  capturingLogger,
  CONSUMER_TUNING,
  headersOf,
  newTopics,
  readBack,
  unique,
  waitFor,
} from './helpers.js';

const Command = z.object({ id: z.string(), action: z.enum(['ok', 'fail', 'hang']) });
type Command = z.infer<typeof Command>;

class CardDeclined extends Error {
  constructor(id: string) {
    super(`card declined for ${id}`);
    this.name = 'CardDeclined';
  }
}

/** A function of its own, so its name shows up in the stack of the error it throws. */
function chargeCard(command: Command): void {
  if (command.action === 'fail') throw new CardDeclined(command.id);
}

describe('dead-letter topic', () => {
  test('failed, timeout and invalid records carry correct headers and their original bytes', async () => {
    const inTopic = unique('dlq-in');
    const outTopic = unique('dlq-out');
    const dlqTopic = unique('dlq-dlq');
    await newTopics([{ topic: inTopic, partitions: 2 }, { topic: outTopic }, { topic: dlqTopic }]);
    const b = brokers();

    const binaryKey = Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x7f]);
    const undecodable = Buffer.from([0xff, 0xfe, 0x7b, 0x00, 0x81, 0x22]);
    // All on partition 1, in this order: offsets 0..6 of a fresh topic.
    const inputs: (PlainRecord & { name: string })[] = [
      { name: 'ok-1', topic: inTopic, partition: 1, key: 'ok-1', value: JSON.stringify({ id: 'ok-1', action: 'ok' }) },
      {
        name: 'fail',
        topic: inTopic,
        partition: 1,
        key: 'fail-1',
        value: JSON.stringify({ id: 'fail-1', action: 'fail' }),
      },
      {
        name: 'hang',
        topic: inTopic,
        partition: 1,
        key: 'hang-1',
        value: JSON.stringify({ id: 'hang-1', action: 'hang' }),
      },
      { name: 'undecodable', topic: inTopic, partition: 1, key: binaryKey, value: undecodable },
      {
        name: 'schema',
        topic: inTopic,
        partition: 1,
        key: 'schema-1',
        value: JSON.stringify({ id: 'schema-1', action: 'explode' }),
      },
      { name: 'tombstone', topic: inTopic, partition: 1, key: 'gone-1', value: null },
      { name: 'ok-2', topic: inTopic, partition: 1, key: 'ok-2', value: JSON.stringify({ id: 'ok-2', action: 'ok' }) },
    ].map((record, index) => ({ ...record, headers: { 'x-trace': `trace-${String(index)}`, 'x-origin': 'dlq-test' } }));
    await produceRecords(b, inputs);

    const failAttempts: number[] = [];
    const observedAbort: { aborted: boolean; reason: unknown }[] = [];
    const hangDefers: AttemptEnd[] = [];
    const logger = capturingLogger();
    const counts = emptyOutcomeCounts();
    const source = fromKafka<Command>({
      brokers: b,
      groupId: unique('dlq'),
      topics: [inTopic],
      schema: Command,
      rdkafka: CONSUMER_TUNING,
    });
    const service = runService(
      source,
      (s) =>
        s.pipe(
          runChain(
            [
              handler<Command, Record<string, unknown>>('charge', (ctx) => {
                if (ctx.record.action === 'fail') failAttempts.push(ctx.attempt);
                chargeCard(ctx.record);
              }),
              handler<Command, Record<string, unknown>>('reserve', (ctx, signal) => {
                if (ctx.record.action !== 'hang') return undefined;
                ctx.defer((end) => void hangDefers.push(end));
                // Never finishes by itself: only the deadline's abort ends it.
                return new Promise<void>((resolve) => {
                  signal.addEventListener('abort', () => {
                    observedAbort.push({ aborted: signal.aborted, reason: signal.reason });
                    resolve();
                  });
                });
              }),
              handler<Command, Record<string, unknown>>('emit', (ctx) => {
                ctx.emit({ topic: outTopic, key: ctx.key, value: ctx.record });
              }),
            ],
            {
              concurrency: 8,
              timeout: 500,
              // Handler errors are retried (attempt header 3); a timeout is final at once (attempt 1).
              retry: { maxAttempts: 3, initialDelay: 20, retryable: (error) => error instanceof HandlerError },
            },
          ),
          toKafka({ brokers: b, deadLetterTopic: dlqTopic, logger }),
        ),
      {
        handleSignals: false,
        logger,
        onOutcome: (o) => {
          counts[o.kind]++;
        },
      },
    );
    try {
      await waitFor(
        () => counts.ok + counts.failed + counts.timeout + counts.invalid >= inputs.length,
        30_000,
        () => `all ${String(inputs.length)} outcomes (${JSON.stringify(counts)})`,
      );
    } finally {
      await source.stop();
    }
    expect(await service).toEqual({ ok: 2, break: 0, failed: 1, timeout: 1, aborted: 0, invalid: 3 });

    // The handler saw the deadline through its signal, and its defer ran with the timeout.
    expect(failAttempts).toEqual([1, 2, 3]);
    expect(observedAbort).toHaveLength(1);
    expect(observedAbort[0]?.aborted).toBe(true);
    expect(observedAbort[0]?.reason).toBeInstanceOf(DeadlineExceededError);
    expect(hangDefers).toEqual(['timeout']);

    const [originals, out, dead] = await Promise.all([
      readBack([inTopic], { expected: inputs.length, settleMs: 200 }),
      readBack([outTopic], { expected: 2 }),
      readBack([dlqTopic], { expected: 5 }),
    ]);
    expect(originals).toHaveLength(inputs.length);
    expect(out.map((record) => record.value?.toString()).sort()).toEqual([
      JSON.stringify({ id: 'ok-1', action: 'ok' }),
      JSON.stringify({ id: 'ok-2', action: 'ok' }),
    ]);
    expect(dead).toHaveLength(5);

    const originalAt = new Map<number, SourceRecord>(originals.map((record) => [record.offset, record]));
    const deadByOffset = new Map<number, SourceRecord>();
    for (const record of dead) {
      const offset = Number(headersOf(record)[DLQ_HEADERS.offset]);
      expect(deadByOffset.has(offset), `one dead letter for offset ${String(offset)}`).toBe(false);
      deadByOffset.set(offset, record);
    }
    expect([...deadByOffset.keys()].sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5]);

    const expectations: Record<
      number,
      { reason: string; handler: string; code: string; message: RegExp; attempt: string }
    > = {
      1: {
        reason: 'failed',
        handler: 'charge',
        code: 'ERR_HANDLER',
        message: /^Handler "charge" failed: card declined for fail-1$/,
        attempt: '3',
      },
      2: {
        reason: 'timeout',
        handler: 'reserve',
        code: 'ERR_DEADLINE_EXCEEDED',
        message: /^Record deadline of 500 ms exceeded in handler "reserve"$/,
        attempt: '1',
      },
      3: {
        reason: 'invalid',
        handler: 'decode:undecodable',
        code: 'ERR_INVALID_RECORD',
        message: /^Undecodable record: .+/,
        attempt: '1',
      },
      4: {
        reason: 'invalid',
        handler: 'decode:schema',
        code: 'ERR_INVALID_RECORD',
        message: /^Schema violation: action: .+/,
        attempt: '1',
      },
      5: {
        reason: 'invalid',
        handler: 'decode:schema',
        code: 'ERR_INVALID_RECORD',
        message: /^Schema violation: \(root\): .+/,
        attempt: '1',
      },
    };
    for (const [offset, want] of Object.entries(expectations)) {
      const at = Number(offset);
      const record = deadByOffset.get(at);
      const original = originalAt.get(at);
      const input = inputs[at];
      if (record === undefined || original === undefined || input === undefined)
        throw new Error(`missing offset ${offset}`);
      const h = headersOf(record);
      const label = `dead letter of ${input.name} (offset ${offset})`;
      expect(h[DLQ_HEADERS.reason], label).toBe(want.reason);
      expect(h[DLQ_HEADERS.handler], label).toBe(want.handler);
      expect(h[DLQ_HEADERS.errorCode], label).toBe(want.code);
      expect(h[DLQ_HEADERS.errorMessage], label).toMatch(want.message);
      expect(h[DLQ_HEADERS.attempt], label).toBe(want.attempt);
      expect(h[DLQ_HEADERS.topic], label).toBe(inTopic);
      expect(h[DLQ_HEADERS.partition], label).toBe('1');
      expect(h[DLQ_HEADERS.offset], label).toBe(offset);
      expect(h[DLQ_HEADERS.timestamp], label).toBe(String(original.timestamp));
      // The stack names the error and has frames.
      const stack = h[DLQ_HEADERS.errorStack] ?? '';
      expect(stack.split('\n')[0], label).toContain(h[DLQ_HEADERS.errorMessage]);
      expect(stack, label).toMatch(/\n\s+at /);
      // Original key, value and headers, byte for byte.
      const key = typeof input.key === 'string' ? Buffer.from(input.key) : input.key;
      const value = typeof input.value === 'string' ? Buffer.from(input.value) : input.value;
      expect(record.key, label).toEqual(key);
      expect(record.value, label).toEqual(value);
      expect(record.key, label).toEqual(original.key);
      expect(record.value, label).toEqual(original.value);
      expect(record.headers.slice(0, 2), label).toEqual(original.headers);
      expect(h['x-trace'], label).toBe(`trace-${offset}`);
    }
    // The handler's own error is in the failed record's stack: the throw site, not just rxkafka's wrapper.
    const failedStack = headersOf(deadByOffset.get(1)!)[DLQ_HEADERS.errorStack] ?? '';
    expect(failedStack).toContain('CardDeclined: card declined for fail-1');
    expect(failedStack).toContain('chargeCard');
    // Undecodable: the parse error's whole message is kept, although it quotes a NUL byte of the value.
    expect(headersOf(deadByOffset.get(3)!)[DLQ_HEADERS.errorMessage]).toMatch(
      /^Undecodable record: .*\\u0000.* is not valid JSON$/,
    );
  });

  test('a poison pill in key mode retries with backoff, then is dead-lettered, without stalling other keys', async () => {
    const inTopic = unique('poison-in');
    const outTopic = unique('poison-out');
    const dlqTopic = unique('poison-dlq');
    await newTopics([{ topic: inTopic, partitions: 2 }, { topic: outTopic, partitions: 2 }, { topic: dlqTopic }]);
    const b = brokers();
    const OTHER_KEYS = 10;
    const PER_KEY = 30;
    const records: PlainRecord[] = [
      // The poison pill first, then a good record of the same key that must wait for it.
      { topic: inTopic, key: 'poison', value: JSON.stringify({ n: 0, poison: true }) },
    ];
    for (let n = 1; n <= PER_KEY; n++) {
      for (let k = 0; k < OTHER_KEYS; k++)
        records.push({ topic: inTopic, key: `k${String(k)}`, value: JSON.stringify({ n, poison: false }) });
      if (n === 1) records.push({ topic: inTopic, key: 'poison', value: JSON.stringify({ n: 1, poison: false }) });
    }
    await produceRecords(b, records);

    const INITIAL = 400;
    const JITTER = 0.5;
    const MAX_ATTEMPTS = 4;
    const attemptsAt: number[] = [];
    const doneAt = new Map<string, number>();
    // When the poison key's next (good) record started: only after the pill's chain gave up.
    let poisonFollowerStartedAt: number | undefined;
    const counts = emptyOutcomeCounts();
    const started = performance.now();
    const source = fromKafka<{ n: number; poison: boolean }>({
      brokers: b,
      groupId: unique('poison'),
      topics: [inTopic],
      schema: z.object({ n: z.number().int(), poison: z.boolean() }),
      rdkafka: CONSUMER_TUNING,
    });
    const service = runService(
      source,
      (s) =>
        s.pipe(
          runChain(
            [
              handler<{ n: number; poison: boolean }, Record<string, unknown>>('digest', async (ctx) => {
                if (ctx.record.poison) {
                  attemptsAt.push(performance.now());
                  throw new Error('poison pill');
                }
                if (ctx.key === 'poison') poisonFollowerStartedAt = performance.now();
                await new Promise((resolve) => setTimeout(resolve, 2));
                ctx.emit({ topic: outTopic, key: ctx.key, value: ctx.record });
              }),
            ],
            {
              concurrency: 4,
              ordering: 'key',
              retry: { maxAttempts: MAX_ATTEMPTS, initialDelay: INITIAL, multiplier: 2, jitter: JITTER },
            },
          ),
          toKafka({ brokers: b, deadLetterTopic: dlqTopic, logger: capturingLogger() }),
        ),
      {
        handleSignals: false,
        onOutcome: (o) => {
          counts[o.kind]++;
          const key = o.source.key?.toString() ?? '';
          if (key !== 'poison') doneAt.set(key, performance.now());
        },
      },
    );
    try {
      await waitFor(
        () => counts.ok + counts.failed >= records.length,
        30_000,
        () => `all outcomes (${JSON.stringify(counts)})`,
      );
    } finally {
      await source.stop();
    }
    expect(await service).toEqual({ ok: records.length - 1, break: 0, failed: 1, timeout: 0, aborted: 0, invalid: 0 });

    // Bounded retries, with exponential backoff and jitter between attempts.
    expect(attemptsAt).toHaveLength(MAX_ATTEMPTS);
    for (let attempt = 1; attempt < MAX_ATTEMPTS; attempt++) {
      const gap = (attemptsAt[attempt] ?? 0) - (attemptsAt[attempt - 1] ?? 0);
      const base = INITIAL * 2 ** (attempt - 1);
      expect(gap, `backoff after attempt ${String(attempt)}`).toBeGreaterThanOrEqual(base * (1 - JITTER) - 5);
      expect(gap, `backoff after attempt ${String(attempt)}`).toBeLessThan(base + 250);
    }
    // The other keys were not held up: all of them were done (delivered and acknowledged) before the
    // pill's last attempt (if its partition or a worker stalled, they would finish after it), while
    // the poison key's next record waited for the pill to give up (key order).
    expect(doneAt.size).toBe(OTHER_KEYS);
    const lastAttemptAt = attemptsAt[MAX_ATTEMPTS - 1] ?? 0;
    expect(Math.max(...doneAt.values())).toBeLessThan(lastAttemptAt);
    expect(poisonFollowerStartedAt).toBeGreaterThan(lastAttemptAt);
    expect(lastAttemptAt - started).toBeGreaterThan(INITIAL * (1 + 2 + 4) * (1 - JITTER));

    const [out, dead] = await Promise.all([
      readBack([outTopic], { expected: records.length - 1 }),
      readBack([dlqTopic], { expected: 1 }),
    ]);
    expect(out).toHaveLength(records.length - 1);
    expect(dead).toHaveLength(1);
    const h = headersOf(dead[0]!);
    expect([h[DLQ_HEADERS.reason], h[DLQ_HEADERS.handler], h[DLQ_HEADERS.attempt], dead[0]?.key?.toString()]).toEqual([
      'failed',
      'digest',
      String(MAX_ATTEMPTS),
      'poison',
    ]);
  });
});
