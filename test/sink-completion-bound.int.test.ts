/**
 * toKafka's completion waits for outstanding deliveries at most `flushTimeout`. Outputs that cannot be
 * delivered (the broker is gone) once held a stopping service until librdkafka gave up on them
 * (`message.timeout.ms`, then again on a replacement producer): a reliability worker was killed 30 s
 * after its SIGTERM so. Now completion gives up after `flushTimeout`, says so in a warning, and leaves
 * those records unacknowledged (so uncommitted: processed again).
 */
import { Subject } from 'rxjs';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createContext, handler, runChain, type ChainInput, type Outcome } from '@rxkafka/core';
import { createTopics } from '@rxkafka/kafka/admin';
import { toKafka } from '@rxkafka/kafka';
import { startKafkaBroker, type KafkaBroker } from '@rxkafka/testing';
import { capturingLogger, unique, waitFor } from './helpers.js';

let broker: KafkaBroker | undefined;
beforeAll(async () => {
  broker = await startKafkaBroker();
}, 120_000);
afterAll(async () => {
  await broker?.stop();
});

const FLUSH_TIMEOUT_MS = 2_000;
const STUCK = 50;

test('with the broker gone, completion ends after flushTimeout, without the unconfirmed outcomes', async () => {
  if (broker === undefined) throw new Error('no broker');
  const topic = unique('completion-bound');
  await createTopics(broker.brokers, [{ topic, partitions: 1 }]);
  const logger = capturingLogger();
  const inputs = new Subject<ChainInput<string, Record<string, unknown>>>();
  const acked: number[] = [];
  const outcomes: Outcome<string, Record<string, unknown>>[] = [];
  const record = (offset: number): ChainInput<string, Record<string, unknown>> =>
    createContext({
      record: `v${String(offset)}`,
      source: { topic: 'in', partition: 0, offset, key: null, value: null, headers: [], timestamp: 0 },
      state: {},
      ack: () => acked.push(offset),
    });
  const forward = handler<string, Record<string, unknown>>('forward', (ctx) => {
    ctx.emit({ topic, value: ctx.record });
  });
  let completedAt: number | undefined;
  inputs
    .pipe(
      runChain([forward]),
      toKafka({
        brokers: broker.brokers,
        deadLetterTopic: false,
        logger,
        flushTimeout: FLUSH_TIMEOUT_MS,
        rdkafka: { 'message.timeout.ms': 120_000 },
      }),
    )
    .subscribe({
      next: (outcome) => outcomes.push(outcome),
      complete: () => (completedAt = performance.now()),
    });

  // Connected and delivering: the first record comes back.
  inputs.next(record(0));
  await waitFor(
    () => acked.includes(0),
    30_000,
    () => 'the first record to be delivered',
  );

  await broker.kill();
  for (let offset = 1; offset <= STUCK; offset++) inputs.next(record(offset));
  const completeFrom = performance.now();
  inputs.complete();
  await waitFor(
    () => completedAt !== undefined,
    FLUSH_TIMEOUT_MS + 15_000,
    () => 'toKafka to complete',
  );

  const tookMs = (completedAt ?? 0) - completeFrom;
  expect(tookMs).toBeGreaterThanOrEqual(FLUSH_TIMEOUT_MS - 50);
  expect(tookMs).toBeLessThan(FLUSH_TIMEOUT_MS + 10_000);
  expect(acked).toEqual([0]);
  expect(outcomes.map((o) => o.source.offset)).toEqual([0]);
  const warning = logger.lines.find((line) => (line.object as { event?: string }).event === 'producer.unconfirmed');
  expect(warning?.object).toMatchObject({ unconfirmed: STUCK, flushTimeoutMs: FLUSH_TIMEOUT_MS });
});
