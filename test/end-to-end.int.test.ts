/**
 * End to end through two services chained by a topic, like the microservice demo:
 *   [in] -> service A (check, enrich) -> [mid] -> service B (price) -> [out];  failures of both -> [dlq]
 * and per-key ordering under random handler latency. Every record is counted on the way in, in
 * each service's outcomes, and by reading the output and dead-letter topics back.
 */
import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import { BREAK, handler, runChain } from '@rxkafka/core';
import { DLQ_HEADERS, fromKafka, runService, toKafka, emptyOutcomeCounts } from '@rxkafka/kafka';
import { produceRecords } from '@rxkafka/kafka/admin';
import {
  brokers,
  capturingLogger,
  CONSUMER_TUNING,
  duplicates,
  groupBy,
  headersOf,
  json,
  newTopics,
  readBack,
  unique,
  waitFor,
} from './helpers.js';

const Order = z.object({
  id: z.number().int().min(0),
  amount: z.number().positive(),
  fail: z.enum(['A', 'B']).optional(),
  skip: z.boolean().optional(),
});
type Order = z.infer<typeof Order>;
const Enriched = Order.extend({ tier: z.number().int().min(0).max(2) });
type Enriched = z.infer<typeof Enriched>;

type Fate = 'out' | 'invalid-json' | 'invalid-schema' | 'fail-A' | 'fail-B' | 'skip';

/** What should happen to input record `i`. */
function fateOf(i: number): Fate {
  switch (i % 53) {
    case 5:
      return 'invalid-json';
    case 17:
      return 'invalid-schema';
    case 29:
      return 'fail-A';
    case 41:
      return 'fail-B';
    case 47:
      return 'skip';
    default:
      return 'out';
  }
}

function inputValue(i: number): string {
  const amount = (i % 50) + 1;
  switch (fateOf(i)) {
    case 'invalid-json':
      return `{"id": ${String(i)}, "amount": `;
    case 'invalid-schema':
      return JSON.stringify({ id: i, amount: 'a lot' });
    case 'fail-A':
      return JSON.stringify({ id: i, amount, fail: 'A' });
    case 'fail-B':
      return JSON.stringify({ id: i, amount, fail: 'B' });
    case 'skip':
      return JSON.stringify({ id: i, amount, skip: true });
    case 'out':
      return JSON.stringify({ id: i, amount });
  }
}

const expectedTotal = (i: number): number => ((i % 50) + 1) * (1 + (i % 3));

describe('end to end', () => {
  test('counts are exact: in = out + dead-lettered + skipped, across two chained services', async () => {
    const N = 3000;
    const inTopic = unique('e2e-in');
    const midTopic = unique('e2e-mid');
    const outTopic = unique('e2e-out');
    const dlqTopic = unique('e2e-dlq');
    await newTopics([
      { topic: inTopic, partitions: 4 },
      { topic: midTopic, partitions: 4 },
      { topic: outTopic, partitions: 4 },
      { topic: dlqTopic, partitions: 2 },
    ]);
    const b = brokers();
    const logger = capturingLogger();
    const countsA = emptyOutcomeCounts();
    const countsB = emptyOutcomeCounts();

    const sourceA = fromKafka<Order, { tier?: number }>({
      brokers: b,
      groupId: unique('e2e-a'),
      topics: [inTopic],
      schema: Order,
      rdkafka: CONSUMER_TUNING,
    });
    const sourceB = fromKafka<Enriched>({
      brokers: b,
      groupId: unique('e2e-b'),
      topics: [midTopic],
      schema: Enriched,
      rdkafka: CONSUMER_TUNING,
    });
    const serviceA = runService(
      sourceA,
      (source) =>
        source.pipe(
          runChain(
            [
              handler<Order, { tier?: number }>('check', (ctx) => {
                if (ctx.record.skip === true) return BREAK;
                if (ctx.record.fail === 'A') throw new Error(`order ${String(ctx.record.id)} rejected by A`);
                return undefined;
              }),
              handler<Order, { tier?: number }>('enrich', async (ctx) => {
                await new Promise((resolve) => setImmediate(resolve));
                ctx.state.tier = ctx.record.id % 3;
              }),
              handler<Order, { tier?: number }>('emit', (ctx) => {
                ctx.emit({ topic: midTopic, key: ctx.key, value: { ...ctx.record, tier: ctx.state.tier } });
              }),
            ],
            { concurrency: 32, ordering: 'key' },
          ),
          toKafka({ brokers: b, deadLetterTopic: dlqTopic, logger }),
        ),
      {
        handleSignals: false,
        logger,
        onOutcome: (o) => {
          countsA[o.kind]++;
        },
      },
    );
    const serviceB = runService(
      sourceB,
      (source) =>
        source.pipe(
          runChain(
            [
              handler<Enriched, Record<string, unknown>>('price', (ctx) => {
                if (ctx.record.fail === 'B') throw new Error(`order ${String(ctx.record.id)} rejected by B`);
                ctx.emit({
                  topic: outTopic,
                  key: ctx.key,
                  value: { id: ctx.record.id, total: ctx.record.amount * (1 + ctx.record.tier) },
                  headers: { 'x-stage': 'B' },
                });
              }),
            ],
            { concurrency: 16, ordering: 'key' },
          ),
          toKafka({ brokers: b, deadLetterTopic: dlqTopic, logger }),
        ),
      {
        handleSignals: false,
        logger,
        onOutcome: (o) => {
          countsB[o.kind]++;
        },
      },
    );

    const expected = groupBy(
      Array.from({ length: N }, (_, i) => i),
      fateOf,
    );
    const count = (fate: Fate): number => expected.get(fate)?.length ?? 0;
    try {
      const produced = await produceRecords(
        b,
        Array.from({ length: N }, (_, i) => ({ topic: inTopic, key: `k${String(i % 37)}`, value: inputValue(i) })),
      );
      expect(produced).toBe(N);

      const settledA = (): number => countsA.ok + countsA.break + countsA.failed + countsA.invalid + countsA.timeout;
      await waitFor(
        () => settledA() >= N && countsB.ok + countsB.failed >= countsA.ok,
        60_000,
        () => `both services to settle (A ${JSON.stringify(countsA)}, B ${JSON.stringify(countsB)})`,
      );
    } finally {
      await Promise.all([sourceA.stop(), sourceB.stop()]);
    }
    const [finalA, finalB] = await Promise.all([serviceA, serviceB]);

    // The services' own outcome counts.
    const okA = N - count('invalid-json') - count('invalid-schema') - count('fail-A') - count('skip');
    expect(finalA).toEqual({
      ok: okA,
      break: count('skip'),
      failed: count('fail-A'),
      timeout: 0,
      aborted: 0,
      invalid: count('invalid-json') + count('invalid-schema'),
    });
    expect(finalB).toEqual({
      ok: okA - count('fail-B'),
      break: 0,
      failed: count('fail-B'),
      timeout: 0,
      aborted: 0,
      invalid: 0,
    });
    expect(sourceA.stats.consumed).toBe(N);
    expect(sourceB.stats.consumed).toBe(okA);

    // What Kafka really holds.
    const expectedOut = count('out');
    const expectedDead = count('invalid-json') + count('invalid-schema') + count('fail-A') + count('fail-B');
    const [out, dead] = await Promise.all([
      readBack([outTopic], { expected: expectedOut }),
      readBack([dlqTopic], { expected: expectedDead }),
    ]);
    expect(out.length).toBe(expectedOut);
    expect(dead.length).toBe(expectedDead);
    expect(out.length + dead.length + count('skip')).toBe(N);

    // Outputs: every expected id exactly once, with the right content, key and headers.
    const outValues = out.map((record) => json(record, z.strictObject({ id: z.number(), total: z.number() })));
    expect(duplicates(outValues.map((v) => v.id))).toEqual([]);
    expect(outValues.map((v) => v.id).sort((x, y) => x - y)).toEqual(expected.get('out'));
    for (const [index, record] of out.entries()) {
      const value = outValues[index];
      if (value === undefined) throw new Error('unreachable');
      expect(value).toEqual({ id: value.id, total: expectedTotal(value.id) });
      expect(record.key?.toString()).toBe(`k${String(value.id % 37)}`);
      expect(headersOf(record)['x-stage']).toBe('B');
    }

    // Dead letters: each failure exactly once, from the service where it failed, with the original bytes.
    const deadByFate = new Map<Fate, number[]>();
    for (const record of dead) {
      const h = headersOf(record);
      const sourceTopic = h[DLQ_HEADERS.topic];
      let id: number;
      if (sourceTopic === inTopic) {
        // The value is the input's bytes, unchanged: even broken JSON still shows its id.
        const text = record.value?.toString('utf8') ?? '';
        const match = /"id": ?(\d+)/.exec(text);
        id = Number(match?.[1]);
        expect(text).toBe(inputValue(id));
      } else {
        expect(sourceTopic).toBe(midTopic);
        id = json(record, Enriched).id;
      }
      expect(record.key?.toString()).toBe(`k${String(id % 37)}`);
      const fate = fateOf(id);
      const list = deadByFate.get(fate) ?? [];
      list.push(id);
      deadByFate.set(fate, list);
      const reason = h[DLQ_HEADERS.reason];
      const handlerName = h[DLQ_HEADERS.handler];
      switch (fate) {
        case 'invalid-json':
          expect([sourceTopic, reason, handlerName]).toEqual([inTopic, 'invalid', 'decode:undecodable']);
          break;
        case 'invalid-schema':
          expect([sourceTopic, reason, handlerName]).toEqual([inTopic, 'invalid', 'decode:schema']);
          break;
        case 'fail-A':
          expect([sourceTopic, reason, handlerName]).toEqual([inTopic, 'failed', 'check']);
          break;
        case 'fail-B':
          expect([sourceTopic, reason, handlerName]).toEqual([midTopic, 'failed', 'price']);
          break;
        default:
          throw new Error(`record ${String(id)} (${fate}) must not be dead-lettered`);
      }
    }
    for (const fate of ['invalid-json', 'invalid-schema', 'fail-A', 'fail-B'] as const) {
      expect(
        (deadByFate.get(fate) ?? []).sort((x, y) => x - y),
        fate,
      ).toEqual(expected.get(fate));
    }
    // Every dead letter was logged once, too.
    expect(logger.lines.filter((line) => 'deadLetterTopic' in line.object)).toHaveLength(expectedDead);
  });

  test('key mode keeps per-key order and never overlaps a key, under random handler latency', async () => {
    const KEYS = 60;
    const PER_KEY = 50;
    const N = KEYS * PER_KEY;
    const inTopic = unique('order-in');
    const outTopic = unique('order-out');
    const dlqTopic = unique('order-dlq');
    await newTopics([{ topic: inTopic, partitions: 6 }, { topic: outTopic, partitions: 3 }, { topic: dlqTopic }]);
    const b = brokers();

    // Interleave keys so each partition holds many keys and every key's records are spread out.
    const records = [];
    for (let seq = 1; seq <= PER_KEY; seq++) {
      for (let k = 0; k < KEYS; k++)
        records.push({ topic: inTopic, key: `key-${String(k)}`, value: JSON.stringify({ seq }) });
    }

    const active = new Map<string, number>();
    let overlaps = 0;
    const seenInHandler = new Map<string, number[]>();
    const counts = emptyOutcomeCounts();
    const source = fromKafka<{ seq: number }>({
      brokers: b,
      groupId: unique('order'),
      topics: [inTopic],
      schema: z.object({ seq: z.number().int() }),
      rdkafka: CONSUMER_TUNING,
    });
    const service = runService(
      source,
      (s) =>
        s.pipe(
          runChain(
            [
              handler<{ seq: number }, Record<string, unknown>>('work', async (ctx) => {
                const key = ctx.key ?? '';
                const now = (active.get(key) ?? 0) + 1;
                active.set(key, now);
                if (now > 1) overlaps++;
                const list = seenInHandler.get(key) ?? [];
                list.push(ctx.record.seq);
                seenInHandler.set(key, list);
                await new Promise((resolve) => setTimeout(resolve, Math.random() * 4));
                active.set(key, (active.get(key) ?? 1) - 1);
                ctx.emit({ topic: outTopic, key: ctx.key, value: { key, seq: ctx.record.seq } });
              }),
            ],
            { concurrency: 32, ordering: 'key' },
          ),
          toKafka({ brokers: b, deadLetterTopic: dlqTopic, logger: capturingLogger() }),
        ),
      {
        handleSignals: false,
        onOutcome: (o) => {
          counts[o.kind]++;
        },
      },
    );
    try {
      await produceRecords(b, records);
      await waitFor(
        () => counts.ok >= N,
        60_000,
        () => `all ${String(N)} records (counts ${JSON.stringify(counts)})`,
      );
    } finally {
      await source.stop();
    }
    expect(await service).toEqual({ ok: N, break: 0, failed: 0, timeout: 0, aborted: 0, invalid: 0 });
    expect(overlaps).toBe(0);
    const inOrder = Array.from({ length: PER_KEY }, (_, i) => i + 1);
    for (const [key, seqs] of seenInHandler) expect(seqs, `handler order of ${key}`).toEqual(inOrder);
    expect(seenInHandler.size).toBe(KEYS);

    const out = await readBack([outTopic], { expected: N });
    expect(out.length).toBe(N);
    const byKey = groupBy(out, (record) => record.key?.toString() ?? '');
    expect(byKey.size).toBe(KEYS);
    for (const [key, list] of byKey) {
      // One key, one output partition; offset order there is the order the outputs were produced in.
      expect(new Set(list.map((record) => record.partition)).size, `partitions of ${key}`).toBe(1);
      const seqs = [...list]
        .sort((x, y) => x.offset - y.offset)
        .map((record) => json(record, z.strictObject({ key: z.string(), seq: z.number() })).seq);
      expect(seqs, `output order of ${key}`).toEqual(inOrder);
    }
  });
});
