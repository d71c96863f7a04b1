import { createRequire } from 'node:module';
import { from, lastValueFrom, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { BREAK, createContext, handler, runChain, type SourceRecord } from '@rxkafka/core';
import { observe, type Monitor } from './monitor.js';
import { traceRecords, type RecordTracing } from './tracing.js';

const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = createRequire(import.meta.url)(
  '@opentelemetry/sdk-trace-base',
) as typeof import('@opentelemetry/sdk-trace-base');

const source = (offset: number): SourceRecord => ({
  topic: 'memory',
  partition: 0,
  offset,
  key: Buffer.from(`k${String(offset % 3)}`),
  value: null,
  headers: [],
  timestamp: 0,
});

let monitor: Monitor | undefined;
let tracing: RecordTracing | undefined;
afterEach(() => {
  monitor?.close();
  tracing?.close();
});

describe('observe with runChain (core publishes the record and handler events)', () => {
  it('counts handlers, outcomes where the chain stopped, retries and dead letters; spans per record and handler', async () => {
    monitor = observe();
    const exporter = new InMemorySpanExporter();
    tracing = traceRecords({
      tracerProvider: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
    });
    const chain = [
      handler<number, object>('check', (ctx) => (ctx.record % 5 === 0 ? BREAK : undefined)),
      handler<number, object>('work', async (ctx) => {
        await Promise.resolve();
        if (ctx.record % 7 === 0) throw new Error(`record ${String(ctx.record)} refused`);
      }),
      handler<number, object>('emit', () => undefined),
    ];
    const contexts = Array.from({ length: 36 }, (_, i) =>
      createContext({ record: i + 1, source: source(i + 1), state: {} }),
    );
    const outcomes = await lastValueFrom(
      from(contexts).pipe(runChain(chain, { retry: { maxAttempts: 2, initialDelay: 1 } }), toArray()),
    );
    // 1..36: multiples of 5 break (7 of them); multiples of 7 that are not of 5 fail twice (4: 7, 14, 21, 28).
    expect(outcomes.filter((o) => o.kind === 'break')).toHaveLength(7);
    expect(outcomes.filter((o) => o.kind === 'failed')).toHaveLength(4);
    const status = monitor.status();
    const [service] = status.services;
    expect(service).toMatchObject({
      name: 'memory',
      sourceTopics: ['memory'],
      outcomes: { ok: 25, break: 7, failed: 4 },
    });
    expect(service?.handlers.map((h) => [h.name, h.total, h.failures])).toEqual([
      ['check', 36 + 4, 0],
      ['work', 29 + 4, 8],
      ['emit', 25, 0],
    ]);
    expect(status.deadLetters.map((d) => [d.offset, d.reason, d.handler, d.error])).toEqual(
      [28, 21, 14, 7].map((n) => [n, 'failed', 'work', `record ${String(n)} refused`]),
    );

    const spans = exporter.getFinishedSpans();
    expect(spans.filter((s) => s.name === 'process memory')).toHaveLength(36);
    const failed = spans.find((s) => s.name === 'process memory' && s.attributes['messaging.kafka.offset'] === 7);
    expect(failed?.attributes).toMatchObject({
      'rxkafka.outcome': 'failed',
      'rxkafka.attempts': 2,
      'rxkafka.handler': 'work',
    });
    const children = spans.filter((s) => s.parentSpanContext?.spanId === failed?.spanContext().spanId);
    expect(children.map((s) => [s.name, s.attributes['rxkafka.attempt'], s.attributes['rxkafka.result']])).toEqual([
      ['check', 1, 'continue'],
      ['work', 1, 'failed'],
      ['check', 2, 'continue'],
      ['work', 2, 'failed'],
    ]);
  });

  it('publishes nothing and keeps nothing once closed', async () => {
    monitor = observe();
    monitor.close();
    const ctx = createContext({ record: 1, source: source(1), state: {} });
    await lastValueFrom(from([ctx]).pipe(runChain([handler<number, object>('a', () => undefined)]), toArray()));
    expect(monitor.status().services).toEqual([]);
  });
});
