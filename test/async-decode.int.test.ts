/**
 * Asynchronous decoders and validators (a schema registry, a Standard Schema validator that awaits)
 * never let a record overtake an earlier one: per-key order holds end to end, and a rejected lookup
 * is an invalid record in the dead-letter topic.
 */
import { expect, test } from 'vitest';
import * as v from 'valibot';
import { handler, runChain } from '@rxkafka/core';
import { fromKafka, runService, toKafka, type Decoder } from '@rxkafka/kafka';
import { produceRecords } from '@rxkafka/kafka/admin';
import { brokers, capturingLogger, CONSUMER_TUNING, groupBy, json, newTopics, readBack, unique } from './helpers.js';
import { z } from 'zod';

const Reading = v.object({ key: v.string(), seq: v.pipe(v.number(), v.integer()) });
type Reading = v.InferOutput<typeof Reading>;

test('records decoded asynchronously keep their per-key order, and failed lookups are dead-lettered', async () => {
  const N = 600;
  const input = unique('async-in');
  const output = unique('async-out');
  const dlq = unique('async-dlq');
  await newTopics([{ topic: input, partitions: 3 }, { topic: output, partitions: 3 }, { topic: dlq }]);
  const seqOf = new Map<string, number>();
  const records = Array.from({ length: N }, (_, i) => {
    const key = `k${String(i % 13)}`;
    const seq = seqOf.get(key) ?? 0;
    seqOf.set(key, seq + 1);
    // Every 50th record fails its lookup.
    return { topic: input, key, value: JSON.stringify({ key, seq, unknown: i % 50 === 7 }) };
  });
  await produceRecords(brokers(), records);

  // A lookup with a random round trip, so later records often finish decoding first.
  const lookup: Decoder = async (value) => {
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 4));
    const parsed = JSON.parse(String(value)) as { unknown: boolean };
    if (parsed.unknown) throw new Error('unknown schema id');
    return parsed;
  };
  const logger = capturingLogger();
  const source = fromKafka<Reading>({
    brokers: brokers(),
    groupId: unique('async'),
    topics: [input],
    schema: Reading,
    decode: lookup,
    rdkafka: CONSUMER_TUNING,
  });
  const forward = handler<Reading, Record<string, unknown>>('forward', async (ctx) => {
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 2));
    ctx.emit({ topic: output, key: ctx.record.key, value: ctx.record });
  });
  let settled = 0;
  const counts = await runService(
    source,
    (stream) =>
      stream.pipe(
        runChain([forward], { concurrency: 32, ordering: 'key' }),
        toKafka({
          brokers: brokers(),
          deadLetterTopic: dlq,
          logger,
          // An asynchronous serializer too: outputs must still leave in order.
          serialize: async (value) => {
            await new Promise((resolve) => setTimeout(resolve, Math.random() * 2));
            return JSON.stringify(value);
          },
        }),
      ),
    {
      handleSignals: false,
      logger,
      onOutcome: () => {
        if (++settled === N) void source.stop();
      },
    },
  );
  const failing = N / 50;
  expect(counts.invalid).toBe(failing);
  expect(counts.ok).toBe(N - failing);

  const out = await readBack([output], { expected: N - failing });
  expect(out).toHaveLength(N - failing);
  const Out = z.object({ key: z.string(), seq: z.number() });
  for (const [key, items] of groupBy(
    out.map((record) => json(record, Out)),
    (item) => item.key,
  )) {
    const seqs = items.map((item) => item.seq);
    expect(seqs, `order of ${key}`).toEqual([...seqs].sort((a, b) => a - b));
  }
  expect(await readBack([dlq], { expected: failing })).toHaveLength(failing);
});
