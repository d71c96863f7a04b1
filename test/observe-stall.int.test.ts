/**
 * The stall diagnosis on the real broker: a partition paused by backpressure names the limit that
 * holds; a record held in a handler is reported with its offset and handler, with what it holds back;
 * once everything completes the partition is idle with lag 0. Each transition into a problem is logged.
 */
import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import { handler, runChain } from '@rxkafka/core';
import { fromKafka, runService, toKafka } from '@rxkafka/kafka';
import { produceRecords } from '@rxkafka/kafka/admin';
import { observe, type PartitionReport } from '@rxkafka/observe';
import { brokers, capturingLogger, CONSUMER_TUNING, newTopics, unique, waitFor } from './helpers.js';

const Order = z.object({ id: z.number().int() });
type Order = z.infer<typeof Order>;

describe('observe: stall diagnosis', () => {
  test('paused by backpressure (which limit), a slow record (offset, handler, what waits behind it), then idle', async () => {
    const inTopic = unique('stall-in');
    const dlqTopic = unique('stall-dlq');
    await newTopics([
      { topic: inTopic, partitions: 1 },
      { topic: dlqTopic, partitions: 1 },
    ]);
    const b = brokers();
    await produceRecords(
      b,
      Array.from({ length: 100 }, (_, id) => ({
        topic: inTopic,
        key: `k${String(id)}`,
        value: JSON.stringify({ id }),
      })),
    );
    const logger = capturingLogger();
    const source = fromKafka<Order>({
      brokers: b,
      groupId: unique('stall-group'),
      topics: [inTopic],
      schema: Order,
      logger,
      maxInFlight: 20,
      pauseAfter: 0,
      rdkafka: { ...CONSUMER_TUNING, 'statistics.interval.ms': 500 },
    });
    const monitor = observe({ logger, slowRecordAfter: 1000 }).watch(source, { name: 'stall-service' });
    // Every record waits for the gate; record 0 waits for its own.
    let openAll: () => void = () => undefined;
    const all = new Promise<void>((resolve) => (openAll = resolve));
    let openFirst: () => void = () => undefined;
    const first = new Promise<void>((resolve) => (openFirst = resolve));
    const service = runService(
      source,
      (records) =>
        records.pipe(
          runChain(
            [
              handler<Order, Record<string, unknown>>('hold', async (ctx) => {
                await all;
                if (ctx.record.id === 0) await first;
              }),
            ],
            { concurrency: 20, ordering: 'unordered' },
          ),
          toKafka({ brokers: b, deadLetterTopic: dlqTopic, logger }),
        ),
      { handleSignals: false, logger },
    );
    let report: PartitionReport | undefined;
    const look = (): PartitionReport | undefined => (report = monitor.status().partitions[0]);
    try {
      // 20 records in flight hold maxInFlight; the source pauses at once (pauseAfter 0).
      await waitFor(
        () => look()?.condition === 'paused',
        30_000,
        () => `paused (have ${JSON.stringify(report)})`,
      );
      expect(report?.reason).toBe('paused by backpressure: maxInFlight holds (20 of 20)');
      expect(report?.paused).toBe(true);

      openAll();
      // Record 0 stays in its handler; the rest complete behind it, held back from the commit.
      await waitFor(
        () => look()?.condition === 'slow-record' && (report?.reason.includes('completed records behind it') ?? false),
        30_000,
        () => `a slow record holding completed ones back (have ${JSON.stringify(report)})`,
      );
      expect(report?.reason).toMatch(
        /^offset 0 has been in flight for \d+\.\d s, in handler hold; it holds the commit point back with \d+ completed records behind it$/,
      );
      expect(
        logger.lines.some((line) => line.level === 'warn' && line.message.includes(`${inTopic}[0] slow-record`)),
      ).toBe(true);

      openFirst();
      // Everything done and committed; librdkafka's next statistics report lag 0.
      await waitFor(
        () => look()?.condition === 'idle' && report?.lag === 0,
        30_000,
        () => `idle with lag 0 (have ${JSON.stringify(report)})`,
      );
      expect(report?.reason).toBe('no data: lag 0 (healthy idle)');
      // The problem's end is logged once, with whatever the partition does next (fetching what waited, or idle).
      const recovered = logger.lines.filter(
        (line) =>
          line.level === 'info' && line.message.startsWith(`${inTopic}[0] `) && line.message.includes(' again: '),
      );
      expect(recovered, JSON.stringify(logger.lines)).toHaveLength(1);
    } finally {
      openAll();
      openFirst();
      await source.stop();
      await service;
      monitor.close();
    }
  });
});
