import diagnosticsChannel from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import {
  HANDLER_CHANNEL,
  HandlerError,
  RECORD_CHANNEL,
  type HandlerTrace,
  type RecordTrace,
  type SourceRecord,
} from '@rxkafka/core';
import { CHANNELS, PRODUCE_CHANNEL, SourceStats, type PartitionStatus, type ProduceTrace } from '@rxkafka/kafka';
import { observe, type Monitor, type WatchedSource } from './monitor.js';
import { prometheusMetrics } from './metrics.js';
import { serveStatus, type StatusServer } from './status-server.js';

const recordChannel = diagnosticsChannel.tracingChannel<object, RecordTrace>(RECORD_CHANNEL);
const handlerChannel = diagnosticsChannel.tracingChannel<object, HandlerTrace>(HANDLER_CHANNEL);
const produceChannel = diagnosticsChannel.tracingChannel<object, ProduceTrace>(PRODUCE_CHANNEL);

function sourceRecord(offset: number): SourceRecord {
  return {
    topic: 'orders',
    partition: 0,
    offset,
    key: Buffer.from(`k${String(offset)}`),
    value: null,
    headers: [],
    timestamp: 0,
  };
}

/** Plays one record through the events a real pipeline publishes: consumed, record, handlers, produce, settled. */
function play(offset: number, fail: boolean): void {
  const source = sourceRecord(offset);
  diagnosticsChannel.channel(CHANNELS.record).publish({ groupId: 'g1', source, bytes: 10 });
  const context = { source } as unknown as RecordTrace['context'];
  const record: RecordTrace = { context, handlers: ['validate', 'enrich'] };
  recordChannel.start.publish(record);
  const validate: HandlerTrace = { context, handler: 'validate', index: 0, record };
  handlerChannel.start.publish(validate);
  validate.result = 'continue';
  handlerChannel.asyncEnd.publish(validate);
  const enrich: HandlerTrace = { context, handler: 'enrich', index: 1, record };
  handlerChannel.start.publish(enrich);
  enrich.result = fail ? 'failed' : 'continue';
  handlerChannel.asyncEnd.publish(enrich);
  const error = new HandlerError('enrich', new Error('no such customer'));
  record.outcome = (
    fail ? { kind: 'failed', handler: 'enrich', error, source } : { kind: 'ok', source }
  ) as NonNullable<RecordTrace['outcome']>;
  recordChannel.asyncEnd.publish(record);
  const produce: ProduceTrace = {
    topic: fail ? 'orders.dlq' : 'orders.enriched',
    key: null,
    deadLetter: fail,
    deadLetterTopic: 'orders.dlq',
    source,
    headers: {},
  };
  produceChannel.start.publish(produce);
  produce.sentAt = performance.now();
  produceChannel.asyncEnd.publish(produce);
  diagnosticsChannel.channel(CHANNELS.settled).publish({ groupId: 'g1', source, bytes: 10, done: true });
}

function fakeSource(partitions: PartitionStatus[], state = 'running'): WatchedSource {
  const stats = new SourceStats();
  return {
    groupId: 'g1',
    limits: {
      maxInFlight: 100,
      maxInFlightBytes: 1 << 20,
      maxUncommitted: 400,
      maxHeldBack: 50,
      stallTimeout: 30_000,
      headOfLineWarnAfter: 10_000,
    },
    partitions: () => partitions,
    state: state as WatchedSource['state'],
    stats,
  };
}

const partition0: PartitionStatus = {
  topic: 'orders',
  partition: 0,
  paused: false,
  revoking: false,
  inFlight: 0,
  waiting: 0,
  waitingFor: undefined,
  nextOffset: 10,
  committable: 10,
  idleMs: 0,
  head: undefined,
};

let monitor: Monitor | undefined;
let server: StatusServer | undefined;
afterEach(async () => {
  await server?.close();
  monitor?.close();
  server = undefined;
  monitor = undefined;
});

async function get(path: string): Promise<{ status: number; type: string | null; body: string }> {
  const response = await fetch(new URL(path, server?.url));
  return { status: response.status, type: response.headers.get('content-type'), body: await response.text() };
}

describe('serveStatus', () => {
  it("counts a watched group's rejoins under its service name", async () => {
    const registry = new Registry();
    monitor = observe().watch(fakeSource([partition0]), { name: 'enricher' });
    prometheusMetrics(monitor, { registry });
    const rejoined = diagnosticsChannel.channel(CHANNELS.rejoined);
    expect(await registry.getSingleMetricAsString('rxkafka_rejoins_total')).not.toContain('group="enricher"');
    rejoined.publish({ groupId: 'g1', waitedMs: 61_000, boundMs: 60_000 });
    rejoined.publish({ groupId: 'g1', waitedMs: 60_500, boundMs: 60_000 });
    expect(await registry.getSingleMetricAsString('rxkafka_rejoins_total')).toContain(
      'rxkafka_rejoins_total{group="enricher"} 2',
    );
  });

  it('serves the page, status, metrics and health over HTTP, on loopback', async () => {
    const registry = new Registry();
    monitor = observe().watch(fakeSource([partition0]), { name: 'enricher' });
    prometheusMetrics(monitor, { registry });
    server = await serveStatus({ port: 0, monitor, registry });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    for (let offset = 0; offset < 10; offset++) play(offset, offset === 3);
    diagnosticsChannel.channel(CHANNELS.stats).publish({
      groupId: 'g1',
      stats: {
        topics: {
          orders: {
            partitions: { '0': { consumer_lag: 0, committed_offset: 10, hi_offset: 10 }, '-1': { consumer_lag: -1 } },
          },
        },
      },
    });

    const page = await get('/');
    expect(page.status).toBe(200);
    expect(page.type).toContain('text/html');
    expect(page.body).toContain('status.json');
    expect(page.body).not.toMatch(/<script[^>]+src=|<link[^>]+href=/);

    const status = JSON.parse((await get('/status.json')).body) as ReturnType<Monitor['status']>;
    const [service] = status.services;
    expect(service).toMatchObject({
      name: 'enricher',
      groupId: 'g1',
      sourceTopics: ['orders'],
      outputTopics: ['orders.enriched'],
      deadLetterTopics: ['orders.dlq'],
      consumed: 10,
      outcomes: { ok: 9, failed: 1 },
    });
    expect(service?.handlers.map((h) => [h.name, h.total, h.failures])).toEqual([
      ['validate', 10, 0],
      ['enrich', 10, 1],
    ]);
    expect(status.partitions).toMatchObject([{ topic: 'orders', partition: 0, lag: 0, condition: 'idle' }]);
    expect(status.deadLetters).toMatchObject([
      { offset: 3, reason: 'failed', handler: 'enrich', error: 'no such customer', deadLetterTopic: 'orders.dlq' },
    ]);

    const metrics = await get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('rxkafka_records_consumed_total{topic="orders",partition="0"} 10');
    expect(metrics.body).toContain('rxkafka_outcomes_total{topic="orders",outcome="ok",handler=""} 9');
    expect(metrics.body).toContain('rxkafka_outcomes_total{topic="orders",outcome="failed",handler="enrich"} 1');
    expect(metrics.body).toContain('rxkafka_handler_duration_seconds_count{handler="enrich",result="failed"} 1');
    expect(metrics.body).toContain('rxkafka_records_produced_total{topic="orders.enriched",kind="output"} 9');
    expect(metrics.body).toContain('rxkafka_records_produced_total{topic="orders.dlq",kind="dead_letter"} 1');
    expect(metrics.body).toContain('rxkafka_consume_to_ack_seconds_count{topic="orders"} 10');
    expect(metrics.body).toContain('rxkafka_queue_wait_seconds_count{topic="orders"} 10');
    expect(metrics.body).toContain('rxkafka_consumer_lag{group="enricher",topic="orders",partition="0"} 0');
    expect(metrics.body).toContain(
      'rxkafka_partition_condition{group="enricher",topic="orders",partition="0",condition="idle"} 1',
    );

    expect((await get('/health/live')).status).toBe(200);
    expect((await get('/health/ready')).status).toBe(200);
    expect((await get('/nope')).status).toBe(404);
    expect((await fetch(new URL('/', server.url), { method: 'POST' })).status).toBe(405);
  });

  it("names the sink's dead-letter topic from its first output, before any record fails", () => {
    monitor = observe().watch(fakeSource([partition0]), { name: 'enricher' });
    play(0, false);
    expect(monitor.status().services[0]).toMatchObject({
      outputTopics: ['orders.enriched'],
      deadLetterTopics: ['orders.dlq'],
      outcomes: { ok: 1 },
    });
    expect(monitor.status().deadLetters).toEqual([]);
  });

  it('names the limit nearest to full as the one holding a paused source, maxUncommitted included', () => {
    const source = fakeSource([
      { ...partition0, paused: true, inFlight: 3, head: { offset: 4, released: false, heldBack: 396 } },
    ]);
    Object.assign(source.stats, { paused: true, inFlight: 3, inFlightBytes: 300, uncommitted: 400 });
    monitor = observe().watch(source, { name: 'held' });
    expect(monitor.status().partitions[0]?.reason).toBe('paused by backpressure: maxUncommitted holds (400 of 400)');
    Object.assign(source.stats, { inFlight: 100, uncommitted: 120 });
    expect(monitor.status().partitions[0]?.reason).toBe('paused by backpressure: maxInFlight holds (100 of 100)');
    // Records waiting aside count against maxInFlight, as the source counts them.
    Object.assign(source.stats, { inFlight: 40, waiting: 60, uncommitted: 120 });
    expect(monitor.status().partitions[0]?.reason).toBe('paused by backpressure: maxInFlight holds (100 of 100)');
  });

  it('a record acknowledged without ever starting in runChain is invalid (also without a dead-letter topic)', () => {
    monitor = observe().watch(fakeSource([partition0]), { name: 'auditor' });
    const source = sourceRecord(99);
    diagnosticsChannel.channel(CHANNELS.record).publish({ groupId: 'g1', source, bytes: 3 });
    diagnosticsChannel.channel(CHANNELS.settled).publish({ groupId: 'g1', source, bytes: 3, done: true });
    const status = monitor.status();
    expect(status.services[0]?.outcomes).toEqual({ invalid: 1 });
    expect(status.deadLetters).toMatchObject([{ offset: 99, reason: 'invalid', deadLetterTopic: undefined }]);
  });

  it('ready fails until the source runs with partitions; live fails once a partition stays stalled', async () => {
    monitor = observe({ stalledAfter: 1000, liveFailsAfter: 0 }).watch(fakeSource([], 'connecting'));
    server = await serveStatus({ port: 0, monitor });
    const ready = await get('/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body).toContain('source is connecting');
    expect((await get('/metrics')).status).toBe(404);
    monitor.close();

    monitor = observe({ stalledAfter: 1000, liveFailsAfter: 0 }).watch(fakeSource([{ ...partition0, idleMs: 5000 }]));
    await server.close();
    server = await serveStatus({ port: 0, monitor });
    diagnosticsChannel.channel(CHANNELS.stats).publish({
      groupId: 'g1',
      stats: {
        topics: { orders: { partitions: { '0': { consumer_lag: 42, committed_offset: 10, hi_offset: 52 } } } },
      },
    });
    const live = await get('/health/live');
    expect(live.status).toBe(503);
    expect(live.body).toContain('orders[0] stalled');
  });
});
