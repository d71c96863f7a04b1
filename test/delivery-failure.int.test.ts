/**
 * Guarantee 1 (zero loss) when an output cannot be delivered: the pipeline fails with a
 * DeliveryError and the committed offset stays at or before the record whose output was lost,
 * even though later records of the same partition finished and were committable. Both ways of
 * confirming deliveries: batches (the default), where the records that share the failing record's
 * batch wait for its failure and are then delivered, and a delivery report per record.
 */
import { expect, test } from 'vitest';
import { z } from 'zod';
import { handler, runChain } from '@rxkafka/core';
import { DeliveryError, emptyOutcomeCounts, fromKafka, runService, toKafka } from '@rxkafka/kafka';
import { produceRecords } from '@rxkafka/kafka/admin';
import { brokers, capturingLogger, CONSUMER_TUNING, json, newTopics, readBack, unique } from './helpers.js';

const Item = z.object({ id: z.number().int() });
type Item = z.infer<typeof Item>;

test.each([
  { confirmation: 'batches', deliveryBatches: undefined },
  { confirmation: 'a report per record', deliveryBatches: false as const },
])(
  '$confirmation: a failed produce stops the pipeline with DeliveryError and commits nothing past the record',
  async ({ deliveryBatches }) => {
    const N = 10;
    const FAILING = 3;
    const inTopic = unique('df-in');
    const outTopic = unique('df-out');
    const dlqTopic = unique('df-dlq');
    await newTopics([{ topic: inTopic }, { topic: outTopic }, { topic: dlqTopic }]);
    // Never created, and the broker does not auto-create topics.
    const missingTopic = unique('df-missing');
    const b = brokers();
    const groupId = unique('df');
    await produceRecords(
      b,
      Array.from({ length: N }, (_, id) => ({ topic: inTopic, key: `k${String(id)}`, value: JSON.stringify({ id }) })),
    );

    const logger = capturingLogger();
    const counts = emptyOutcomeCounts();
    const source = fromKafka<Item>({
      brokers: b,
      groupId,
      topics: [inTopic],
      schema: Item,
      rdkafka: CONSUMER_TUNING,
      // Commit often, so a commit past the failing record would have every chance to happen.
      commitInterval: 100,
      commitEvery: 1,
    });
    const started = performance.now();
    const service = runService(
      source,
      (s) =>
        s.pipe(
          runChain(
            [
              handler<Item, Record<string, unknown>>('route', (ctx) => {
                const topic = ctx.record.id === FAILING ? missingTopic : outTopic;
                ctx.emit({ topic, key: ctx.key, value: ctx.record });
              }),
            ],
            { ordering: 'unordered' },
          ),
          toKafka({
            brokers: b,
            deadLetterTopic: dlqTopic,
            logger,
            rdkafka: { 'message.timeout.ms': 3000 },
            ...(deliveryBatches === undefined ? {} : { deliveryBatches }),
          }),
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
      const failure = await service.then(
        () => new Error('the pipeline completed, but it should have failed'),
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(DeliveryError);
      expect((failure as DeliveryError).message).toContain(`${inTopic}[0]@${String(FAILING)}`);
      // librdkafka gave up after message.timeout.ms, not at once and not after its 300 s default...
      const reported = logger.lines.find((line) => line.message.startsWith('delivery failed'));
      if (reported === undefined) throw new Error('the delivery failure was not logged');
      expect(reported.at - started).toBeGreaterThan(2500);
      expect(reported.at - started).toBeLessThan(30_000);
      // ...and the service closed promptly after it: runService settles only once the consumer has
      // committed and left. (It used to wait drainTimeout + abortGrace for a record that could never settle.)
      expect(performance.now() - reported.at).toBeLessThan(3000);
    } finally {
      await source.stop();
    }
    // Every other record finished (the later ones before the failure was known), and only the failing
    // record was produced again: the outputs below are there once.
    expect(counts).toEqual({ ok: N - 1, break: 0, failed: 0, timeout: 0, aborted: 0, invalid: 0 });
    expect(source.state).toBe('closed');

    // The group's committed position: a new member re-receives the failing record, and (since
    // commits are contiguous) everything after it, from some offset at or before it.
    const again = await readBack([inTopic], { groupId, expected: N - FAILING });
    const offsets = again.map((record) => record.offset);
    const first = offsets[0] ?? Number.NaN;
    expect(first).toBeLessThanOrEqual(FAILING);
    expect(offsets).toEqual(Array.from({ length: N - first }, (_, i) => first + i));
    expect(json(again[FAILING - first] ?? again[0]!, Item).id).toBe(FAILING);

    // The outputs that were delivered are there once; the lost one is not; nothing was dead-lettered.
    const [out, dead] = await Promise.all([
      readBack([outTopic], { expected: N - 1 }),
      readBack([dlqTopic], { expected: 0, settleMs: 1500 }),
    ]);
    expect(out.map((record) => json(record, Item).id).sort((x, y) => x - y)).toEqual(
      Array.from({ length: N }, (_, id) => id).filter((id) => id !== FAILING),
    );
    expect(dead).toHaveLength(0);
  },
);

test('an output the producer refuses before sending (too large) fails the pipeline with DeliveryError naming the record', async () => {
  const N = 6;
  const FAILING = 2;
  const inTopic = unique('df-large-in');
  const outTopic = unique('df-large-out');
  await newTopics([{ topic: inTopic }, { topic: outTopic }]);
  const b = brokers();
  const groupId = unique('df-large');
  await produceRecords(
    b,
    Array.from({ length: N }, (_, id) => ({ topic: inTopic, key: `k${String(id)}`, value: JSON.stringify({ id }) })),
  );
  const logger = capturingLogger();
  const source = fromKafka<Item>({ brokers: b, groupId, topics: [inTopic], schema: Item, rdkafka: CONSUMER_TUNING });
  const service = runService(
    source,
    (s) =>
      s.pipe(
        runChain([
          handler<Item, Record<string, unknown>>('route', (ctx) => {
            const padding = ctx.record.id === FAILING ? 'x'.repeat(10_000) : '';
            ctx.emit({ topic: outTopic, key: ctx.key, value: { ...ctx.record, padding } });
          }),
        ]),
        toKafka({ brokers: b, deadLetterTopic: false, logger, rdkafka: { 'message.max.bytes': 4096 } }),
      ),
    { handleSignals: false, logger },
  );
  const failure = await service.then(
    () => new Error('the pipeline completed, but it should have failed'),
    (error: unknown) => error,
  );
  expect(failure).toBeInstanceOf(DeliveryError);
  expect((failure as DeliveryError).message).toContain(`${inTopic}[0]@${String(FAILING)}`);
  expect((failure as DeliveryError).code).toBe('ERR_MSG_SIZE_TOO_LARGE');
  expect(logger.lines.some((line) => line.message.startsWith('delivery failed'))).toBe(true);
  // Nothing was committed past the refused record: the group reads it again.
  const again = await readBack([inTopic], { groupId, expected: N - FAILING });
  expect(again[0]?.offset).toBeLessThanOrEqual(FAILING);
});
