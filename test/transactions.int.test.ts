/**
 * toKafka's `transactions`: records are delivered by transaction commits instead of one delivery report
 * each. Every output arrives once and in order per key, a read_committed reader sees it, and each commit
 * leaves its control record in the output partitions. A transaction the broker refuses, or one that
 * outlives `transaction.timeout.ms`, is aborted: its records never reach a read_committed reader, are
 * never acknowledged, and the stream fails loudly.
 */
import { expect, test } from 'vitest';
import { z } from 'zod';
import { handler, runChain, type ChainHandler, type RunChainOptions } from '@rxkafka/core';
import {
  DeliveryError,
  fromKafka,
  KafkaError,
  runService,
  toKafka,
  type OutcomeCounts,
  type ToKafkaOptions,
} from '@rxkafka/kafka';
import { produceRecords } from '@rxkafka/kafka/admin';
import {
  brokers,
  capturingLogger,
  CONSUMER_TUNING,
  duplicates,
  groupBy,
  json,
  newTopics,
  readBack,
  unique,
} from './helpers.js';

const Item = z.object({ id: z.number().int(), key: z.string() });
type Item = z.infer<typeof Item>;
type State = Record<string, unknown>;
const KEYS = 7;

async function seeded(
  count: number,
  partitions: number,
  outputConfig: Record<string, string> = {},
): Promise<{ input: string; output: string }> {
  const input = unique('txn-in');
  const output = unique('txn-out');
  await newTopics([
    { topic: input, partitions },
    { topic: output, partitions, config: outputConfig },
  ]);
  await produceRecords(
    brokers(),
    Array.from({ length: count }, (_, id) => {
      const key = `k${String(id % KEYS)}`;
      return { topic: input, key, value: JSON.stringify({ id, key }) };
    }),
  );
  return { input, output };
}

// librdkafka's default, spelled out; read_uncommitted also returns what aborted transactions wrote.
const READ_COMMITTED = { 'isolation.level': 'read_committed' } as const;
const READ_UNCOMMITTED = { 'isolation.level': 'read_uncommitted' } as const;

/**
 * Runs input → `forward` → toKafka with `transactions` as a service, stopping after `stopAfter`
 * outcomes; resolves with the outcome counts, or with the error the service failed with.
 */
async function serve(options: {
  readonly input: string;
  readonly groupId: string;
  readonly forward: ChainHandler<Item, State>;
  readonly chain?: RunChainOptions<Item, State>;
  readonly sink: Omit<ToKafkaOptions, 'brokers' | 'deadLetterTopic'>;
  readonly stopAfter?: number;
}): Promise<OutcomeCounts | { failure: unknown }> {
  const source = fromKafka<Item>({
    brokers: brokers(),
    groupId: options.groupId,
    topics: [options.input],
    schema: Item,
    rdkafka: CONSUMER_TUNING,
  });
  const logger = capturingLogger();
  let settled = 0;
  return runService(
    source,
    (records) =>
      records.pipe(
        runChain([options.forward], options.chain),
        toKafka({ brokers: brokers(), deadLetterTopic: false, logger, ...options.sink }),
      ),
    {
      handleSignals: false,
      logger,
      onOutcome: () => {
        if (++settled === options.stopAfter) void source.stop();
      },
    },
  ).catch((failure: unknown) => ({ failure }));
}

test('every output arrives once, in order per key, through transactions a read_committed reader sees', async () => {
  const N = 3000;
  const { input, output } = await seeded(N, 3);
  const groupId = unique('txn');
  const forward = handler<Item, State>('forward', (ctx) => {
    ctx.emit({ topic: output, key: ctx.record.key, value: ctx.record });
  });
  const counts = await serve({
    input,
    groupId,
    forward,
    chain: { concurrency: 16 },
    sink: { transactions: { id: unique('txn-id'), maxRecords: 400, maxMs: 50 } },
    stopAfter: N,
  });
  expect(counts).toMatchObject({ ok: N });

  const seen = await readBack([output], { expected: N, rdkafka: READ_COMMITTED });
  const items = seen.map((record) => json(record, Item));
  expect(items).toHaveLength(N);
  expect(duplicates(items.map((item) => item.id))).toEqual([]);
  for (const [, ofKey] of groupBy(items, (item) => item.key)) {
    const ids = ofKey.map((item) => item.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
  }
  // Transactions, not plain produces: each commit wrote a control record, so offsets have gaps.
  for (const [partition, records] of groupBy(seen, (record) => record.partition)) {
    const last = Math.max(...records.map((record) => record.offset));
    expect(last + 1, `partition ${String(partition)}`).toBeGreaterThan(records.length);
  }
  // Every record was acknowledged and committed: the group has nothing left to read.
  const again = await readBack([input], { expected: 1, groupId, settleMs: 0, timeoutMs: 3000 });
  expect(again).toHaveLength(0);
});

test('a transaction the broker refuses is aborted: none of it is visible read_committed, nothing past it is committed, and the stream fails', async () => {
  const N = 600;
  const BAD = 300;
  // A batch over the output topic's max.message.bytes is refused by the broker; librdkafka lets it go
  // (its own limit is 1 MB). Transactions of 100 small records stay far below it.
  const { input, output } = await seeded(N, 1, { 'max.message.bytes': '100000' });
  const groupId = unique('txn-refused');
  const forward = handler<Item, State>('forward', (ctx) => {
    const padding = ctx.record.id === BAD ? 'x'.repeat(200_000) : '';
    ctx.emit({ topic: output, key: ctx.record.key, value: { ...ctx.record, padding } });
  });
  const { failure } = (await serve({
    input,
    groupId,
    forward,
    chain: { ordering: 'partition' },
    sink: { deliveryAttempts: 2, transactions: { id: unique('txn-id'), maxRecords: 100, maxMs: 1000 } },
  })) as { failure: unknown };
  expect(failure).toBeInstanceOf(DeliveryError);

  const committed = (await readBack([output], { expected: N, rdkafka: READ_COMMITTED, timeoutMs: 5000 })).map(
    (record) => json(record, Item.extend({ padding: z.string() })).id,
  );
  // Whole transactions of 100 before the refused one, in order; nothing of the refused one or after.
  expect(duplicates(committed)).toEqual([]);
  expect(committed).not.toContain(BAD);
  expect(committed.length % 100).toBe(0);
  expect(committed).toEqual(Array.from({ length: committed.length }, (_, i) => i));
  expect(committed.length).toBeLessThanOrEqual(BAD);
  // The group's commit stops before the refused record: the next run reads it again.
  const again = await readBack([input], { expected: N - committed.length, groupId, settleMs: 500 });
  expect(again.map((record) => json(record, Item).id)).toContain(BAD);
});

test('a transaction that outlives transaction.timeout.ms fences its producer: the stream fails, and nothing of it is visible read_committed or committed', async () => {
  const N = 60;
  const { input, output } = await seeded(N, 1);
  const groupId = unique('txn-timeout');
  const forward = handler<Item, State>('forward', async (ctx) => {
    // The first transaction holds record 0 while record 1 takes longer than the broker lets it live.
    if (ctx.record.id === 1) await new Promise((resolve) => setTimeout(resolve, 2500));
    ctx.emit({ topic: output, key: ctx.record.key, value: ctx.record });
  });
  const { failure } = (await serve({
    input,
    groupId,
    forward,
    chain: { ordering: 'partition' },
    sink: {
      transactions: { id: unique('txn-id'), maxRecords: N, maxMs: 60_000 },
      rdkafka: { 'transaction.timeout.ms': 1000, 'message.timeout.ms': 1000 },
    },
  })) as { failure: unknown };
  // The broker aborted the transaction and bumped the producer's epoch: librdkafka calls that fenced,
  // a fatal error, so the stream fails instead of trying again.
  expect(failure).toBeInstanceOf(KafkaError);
  expect(failure).toMatchObject({ fatal: true, code: 'ERR__FENCED' });
  // Written, then aborted: a read_uncommitted reader sees the records, a read_committed one does not.
  expect(
    (await readBack([output], { expected: N, rdkafka: READ_UNCOMMITTED, timeoutMs: 5000 })).length,
  ).toBeGreaterThan(0);
  expect(await readBack([output], { expected: 1, rdkafka: READ_COMMITTED, timeoutMs: 3000, settleMs: 0 })).toEqual([]);
  // Nothing was acknowledged: the group reads every record again.
  expect(await readBack([input], { expected: N, groupId, settleMs: 500 })).toHaveLength(N);
});
