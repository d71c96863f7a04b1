/**
 * A service's pipeline needs a sink that acknowledges records. Without one, runService fails at once
 * and loudly instead of stalling at maxInFlight; `acknowledge()` is the sink of consume-only pipelines.
 */
import { expect, test } from 'vitest';
import { z } from 'zod';
import { handler, runChain } from '@rxkafka/core';
import { acknowledge, fromKafka, MissingSinkError, runService } from '@rxkafka/kafka';
import { produceRecords } from '@rxkafka/kafka/admin';
import { brokers, capturingLogger, CONSUMER_TUNING, newTopics, readBack, unique } from './helpers.js';

const Item = z.object({ id: z.number().int() });
type Item = z.infer<typeof Item>;

async function seededTopic(count: number, partitions: number): Promise<string> {
  const topic = unique('sink-in');
  await newTopics([{ topic, partitions }]);
  await produceRecords(
    brokers(),
    Array.from({ length: count }, (_, id) => ({ topic, key: `k${String(id % 7)}`, value: JSON.stringify({ id }) })),
  );
  return topic;
}

test('a pipeline without a sink fails with MissingSinkError at its first outcome, and commits nothing', async () => {
  const topic = await seededTopic(200, 2);
  const groupId = unique('no-sink');
  const source = fromKafka<Item>({
    brokers: brokers(),
    groupId,
    topics: [topic],
    schema: Item,
    rdkafka: CONSUMER_TUNING,
  });
  const started = performance.now();
  const failure = await runService(
    source,
    (records) => records.pipe(runChain([handler<Item, Record<string, unknown>>('noop', () => undefined)])),
    {
      handleSignals: false,
      logger: capturingLogger(),
    },
  ).then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(failure).toBeInstanceOf(MissingSinkError);
  expect((failure as MissingSinkError).message).toMatch(/toKafka\(\.\.\.\).*acknowledge\(\)/);
  // Long before maxInFlight (4096) could have filled: the first outcome gives it away.
  expect(performance.now() - started).toBeLessThan(60_000);
  expect(source.state).toBe('closed');
  // Nothing was acknowledged, so the same group reads every record again.
  const again = await readBack([topic], { expected: 200, groupId });
  expect(again).toHaveLength(200);
});

test('acknowledge() settles every record of a consume-only pipeline, logs each failure once, and commits', async () => {
  const N = 300;
  const topic = await seededTopic(N, 3);
  const groupId = unique('ack-only');
  const logger = capturingLogger();
  const source = fromKafka<Item>({
    brokers: brokers(),
    groupId,
    topics: [topic],
    schema: Item,
    rdkafka: CONSUMER_TUNING,
  });
  const audit = handler<Item, Record<string, unknown>>('audit', (ctx) => {
    if (ctx.record.id % 10 === 0) throw new Error(`refused ${String(ctx.record.id)}`);
  });
  let settled = 0;
  const done = runService(source, (records) => records.pipe(runChain([audit]), acknowledge({ logger })), {
    handleSignals: false,
    logger,
    onOutcome: () => {
      if (++settled === N) void source.stop();
    },
  });
  const counts = await done;
  expect(counts.ok).toBe(N - N / 10);
  expect(counts.failed).toBe(N / 10);
  const failureLines = logger.lines.filter((line) => line.message.includes('failed in audit'));
  expect(failureLines).toHaveLength(N / 10);
  // One clear line: coordinates, reason, handler and the root message, without the wrapper's repetition.
  expect(failureLines[0]?.message).toMatch(/^sink-in-.*\[\d\]@\d+ failed in audit: refused \d+$/);
  // Everything was committed: the same group finds nothing left.
  const again = await readBack([topic], { expected: 1, groupId, timeoutMs: 8000, settleMs: 0 });
  expect(again).toHaveLength(0);
});
