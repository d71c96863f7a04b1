/**
 * @rxkafka/observe against the real broker: a known run (valid, failing and undecodable records through
 * a two-handler chain into an output and a dead-letter topic), then every metric checked by value, over
 * HTTP, as Prometheus scrapes it, and the status endpoints.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { Registry } from 'prom-client';
import { z } from 'zod';
import { handler, runChain } from '@rxkafka/core';
import { fromKafka, runService, toKafka } from '@rxkafka/kafka';
import { produceRecords } from '@rxkafka/kafka/admin';
import {
  observe,
  prometheusMetrics,
  serveStatus,
  type Monitor,
  type Status,
  type StatusServer,
} from '@rxkafka/observe';
import { brokers, capturingLogger, CONSUMER_TUNING, newTopics, unique, waitFor } from './helpers.js';

const Order = z.object({ id: z.number().int(), amount: z.number() });
type Order = z.infer<typeof Order>;

const N = 300;
type Fate = 'ok' | 'failed' | 'invalid';
const fateOf = (i: number): Fate => (i % 10 === 3 ? 'invalid' : i % 10 === 7 ? 'failed' : 'ok');
const count = (fate: Fate): number => Array.from({ length: N }, (_, i) => fateOf(i)).filter((f) => f === fate).length;

/** Prometheus text format to `name{labels}` → value, labels in the order prom-client prints them. */
function parseMetrics(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const at = line.lastIndexOf(' ');
    values.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return values;
}

function sum(values: Map<string, number>, prefix: string, ...contains: string[]): number {
  let total = 0;
  for (const [key, value] of values)
    if (key.startsWith(prefix) && contains.every((c) => key.includes(c))) total += value;
  return total;
}

let server: StatusServer | undefined;
let monitor: Monitor | undefined;
afterAll(async () => {
  await server?.close();
  monitor?.close();
});

describe('observe: metrics after a known run', () => {
  test('records, outcomes, handlers, produce, commits, lag and rebalances have the values the run implies', async () => {
    const inTopic = unique('obs-in');
    const outTopic = unique('obs-out');
    const dlqTopic = unique('obs-dlq');
    await newTopics([
      { topic: inTopic, partitions: 2 },
      { topic: outTopic, partitions: 1 },
      { topic: dlqTopic, partitions: 1 },
    ]);
    const b = brokers();
    await produceRecords(
      b,
      Array.from({ length: N }, (_, i) => ({
        topic: inTopic,
        key: `k${String(i % 30)}`,
        value: fateOf(i) === 'invalid' ? '{"id": ' : JSON.stringify({ id: i, amount: i + 1 }),
      })),
    );
    const logger = capturingLogger();
    const groupId = unique('obs-group');
    const source = fromKafka<Order>({
      brokers: b,
      groupId,
      topics: [inTopic],
      schema: Order,
      logger,
      // librdkafka's statistics feed consumer lag.
      rdkafka: { ...CONSUMER_TUNING, 'statistics.interval.ms': 500 },
    });
    const registry = new Registry();
    monitor = observe({ logger }).watch(source, { name: 'orders-service' });
    prometheusMetrics(monitor, { registry });
    server = await serveStatus({ port: 0, monitor, registry });

    let settled = 0;
    const service = runService(
      source,
      (records) =>
        records.pipe(
          runChain([
            handler<Order, Record<string, unknown>>('check', (ctx) => {
              if (fateOf(ctx.record.id) === 'failed') throw new Error(`order ${String(ctx.record.id)} refused`);
            }),
            handler<Order, Record<string, unknown>>('emit', async (ctx) => {
              await new Promise((resolve) => setImmediate(resolve));
              ctx.emit({ topic: outTopic, key: ctx.key, value: ctx.record });
            }),
          ]),
          toKafka({ brokers: b, deadLetterTopic: dlqTopic, logger }),
        ),
      {
        handleSignals: false,
        logger,
        onOutcome: () => {
          settled++;
        },
      },
    );
    const url = server.url;
    try {
      // Bounded by the run itself: 300 small records take well under a second on an idle broker.
      await waitFor(
        () => settled >= N,
        60_000,
        () => `${String(N)} outcomes (have ${String(settled)})`,
      );
      // The final commit, then a statistics interval (500 ms) that reports the committed offsets.
      let status: Status | undefined;
      await waitFor(
        () => {
          status = monitor?.status();
          const parts = status?.partitions ?? [];
          return parts.length === 2 && parts.every((p) => p.lag === 0);
        },
        30_000,
        () => `lag 0 on both partitions (have ${JSON.stringify(status?.partitions)})`,
      );

      const response = await fetch(new URL('metrics', url));
      expect(response.status).toBe(200);
      const m = parseMetrics(await response.text());
      const t = `topic="${inTopic}"`;
      expect(sum(m, 'rxkafka_records_consumed_total{', t)).toBe(N);
      expect(m.get(`rxkafka_outcomes_total{${t},outcome="ok",handler=""}`)).toBe(count('ok'));
      expect(m.get(`rxkafka_outcomes_total{${t},outcome="failed",handler="check"}`)).toBe(count('failed'));
      expect(m.get(`rxkafka_outcomes_total{${t},outcome="invalid",handler=""}`)).toBe(count('invalid'));
      expect(m.get('rxkafka_handler_duration_seconds_count{handler="check",result="failed"}')).toBe(count('failed'));
      expect(m.get('rxkafka_handler_duration_seconds_count{handler="check",result="continue"}')).toBe(count('ok'));
      expect(m.get('rxkafka_handler_duration_seconds_count{handler="emit",result="continue"}')).toBe(count('ok'));
      // Invalid records never reach a worker.
      expect(m.get(`rxkafka_queue_wait_seconds_count{${t}}`)).toBe(N - count('invalid'));
      expect(m.get(`rxkafka_consume_to_ack_seconds_count{${t}}`)).toBe(N);
      expect(m.get(`rxkafka_records_produced_total{topic="${outTopic}",kind="output"}`)).toBe(count('ok'));
      expect(m.get(`rxkafka_records_produced_total{topic="${dlqTopic}",kind="dead_letter"}`)).toBe(
        count('failed') + count('invalid'),
      );
      expect(m.get(`rxkafka_delivery_seconds_count{topic="${outTopic}"}`)).toBe(count('ok'));
      expect(sum(m, 'rxkafka_delivery_errors_total')).toBe(0);
      expect(m.get('rxkafka_commit_duration_seconds_count')).toBeGreaterThanOrEqual(1);
      expect(m.get('rxkafka_commit_failures_total')).toBe(0);
      expect(m.get('rxkafka_rebalances_total{kind="assign"}')).toBeGreaterThanOrEqual(1);
      expect(m.get('rxkafka_partitions_assigned_total')).toBeGreaterThanOrEqual(2);
      for (const partition of ['0', '1']) {
        expect(m.get(`rxkafka_consumer_lag{group="orders-service",${t},partition="${partition}"}`)).toBe(0);
        expect(m.get(`rxkafka_uncommitted_records{group="orders-service",${t},partition="${partition}"}`)).toBe(0);
        expect(
          m.get(`rxkafka_partition_condition{group="orders-service",${t},partition="${partition}",condition="idle"}`),
        ).toBe(1);
      }
      expect(m.get('rxkafka_records_in_flight{group="orders-service"}')).toBe(0);
      expect(m.get('rxkafka_bytes_in_flight{group="orders-service"}')).toBe(0);
      expect(m.get('rxkafka_paused_partitions{group="orders-service"}')).toBe(0);
      expect(m.get('rxkafka_assigned_partitions{group="orders-service"}')).toBe(2);

      const page = (await (await fetch(new URL('status.json', url))).json()) as Status;
      expect(page.services[0]).toMatchObject({
        name: 'orders-service',
        groupId,
        state: 'running',
        sourceTopics: [inTopic],
        outputTopics: [outTopic],
        deadLetterTopics: [dlqTopic],
        consumed: N,
        outcomes: { ok: count('ok'), failed: count('failed'), invalid: count('invalid') },
      });
      expect(page.services[0]?.handlers.map((h) => [h.name, h.total, h.failures])).toEqual([
        ['check', N - count('invalid'), count('failed')],
        ['emit', count('ok'), 0],
      ]);
      expect(page.deadLetters).toHaveLength(20);
      expect(page.deadLetters.every((d) => d.deadLetterTopic === dlqTopic)).toBe(true);
      expect((await fetch(new URL('health/ready', url))).status).toBe(200);
      expect((await fetch(new URL('health/live', url))).status).toBe(200);
    } finally {
      await source.stop();
      await service;
    }
    // Stopped: not ready any more.
    expect((await fetch(new URL('health/ready', url))).status).toBe(503);
  });
});
