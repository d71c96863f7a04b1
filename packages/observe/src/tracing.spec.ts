import diagnosticsChannel from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import { HANDLER_CHANNEL, RECORD_CHANNEL, type HandlerTrace, type RecordTrace, type SourceRecord } from '@rxkafka/core';
import { CHANNELS, PRODUCE_CHANNEL, type ProduceTrace } from '@rxkafka/kafka';
import { formatTraceParent, parseTraceParent } from './traceparent.js';
import { traceRecords, type RecordTracing } from './tracing.js';

// The SDK's CommonJS build: its ESM build (chosen by the `module` condition) is for bundlers only.
const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = createRequire(import.meta.url)(
  '@opentelemetry/sdk-trace-base',
) as typeof import('@opentelemetry/sdk-trace-base');

const recordChannel = diagnosticsChannel.tracingChannel<object, RecordTrace>(RECORD_CHANNEL);
const handlerChannel = diagnosticsChannel.tracingChannel<object, HandlerTrace>(HANDLER_CHANNEL);
const produceChannel = diagnosticsChannel.tracingChannel<object, ProduceTrace>(PRODUCE_CHANNEL);

/** One service's record: consumed, one handler, one output; returns the headers the output carries. */
function serve(groupId: string, source: SourceRecord, handler: string, output: string): Record<string, string> {
  diagnosticsChannel.channel(CHANNELS.record).publish({ groupId, source, bytes: 1 });
  const context = { source, attempt: 1 } as unknown as RecordTrace['context'];
  const record: RecordTrace = { context, handlers: [handler] };
  recordChannel.start.publish(record);
  const h: HandlerTrace = { context, handler, index: 0, record };
  handlerChannel.start.publish(h);
  h.result = 'continue';
  handlerChannel.asyncEnd.publish(h);
  record.outcome = { kind: 'ok', source, attempt: 1 } as NonNullable<RecordTrace['outcome']>;
  recordChannel.asyncEnd.publish(record);
  const produce: ProduceTrace = {
    topic: output,
    key: null,
    deadLetter: false,
    deadLetterTopic: false,
    source,
    headers: {},
  };
  produceChannel.start.publish(produce);
  produceChannel.asyncEnd.publish(produce);
  diagnosticsChannel.channel(CHANNELS.settled).publish({ groupId, source, bytes: 1, done: true });
  return produce.headers;
}

let tracing: RecordTracing | undefined;
afterEach(() => {
  tracing?.close();
});

describe('traceRecords', () => {
  it('one trace across two chained services: process, handler and publish spans linked through traceparent', () => {
    const exporter = new InMemorySpanExporter();
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    tracing = traceRecords({ tracerProvider });
    const order: SourceRecord = {
      topic: 'orders',
      partition: 2,
      offset: 7,
      key: Buffer.from('c-1'),
      value: null,
      headers: [],
      timestamp: 0,
    };
    const headers = serve('module-a', order, 'enrich', 'orders.enriched');
    const traceparent = headers['traceparent'];
    expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const enriched: SourceRecord = {
      topic: 'orders.enriched',
      partition: 0,
      offset: 3,
      key: Buffer.from('c-1'),
      value: null,
      headers: [{ key: 'traceparent', value: Buffer.from(traceparent ?? '') }],
      timestamp: 0,
    };
    serve('module-b', enriched, 'score', 'orders.scored');

    const spans = exporter.getFinishedSpans();
    expect(spans.map((s) => s.name).sort()).toEqual([
      'enrich',
      'process orders',
      'process orders.enriched',
      'publish orders.enriched',
      'publish orders.scored',
      'score',
    ]);
    const byName = new Map(spans.map((s) => [s.name, s]));
    const id = (name: string): string | undefined => byName.get(name)?.spanContext().spanId;
    const parent = (name: string): string | undefined => byName.get(name)?.parentSpanContext?.spanId;
    expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1);
    expect(parent('process orders')).toBeUndefined();
    expect(parent('enrich')).toBe(id('process orders'));
    expect(parent('publish orders.enriched')).toBe(id('process orders'));
    expect(parent('process orders.enriched')).toBe(id('publish orders.enriched'));
    expect(parent('score')).toBe(id('process orders.enriched'));
    expect(parent('publish orders.scored')).toBe(id('process orders.enriched'));
    expect(byName.get('process orders')?.attributes).toMatchObject({
      'messaging.system': 'kafka',
      'messaging.operation.type': 'process',
      'messaging.destination.name': 'orders',
      'messaging.destination.partition.id': '2',
      'messaging.kafka.offset': 7,
      'messaging.consumer.group.name': 'module-a',
      'messaging.kafka.message.key': 'c-1',
      'rxkafka.outcome': 'ok',
    });
  });
});

describe('traceparent', () => {
  it('parses and formats W3C trace context, and refuses malformed ones', () => {
    const header = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    expect(parseTraceParent(header)).toEqual({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      traceFlags: 1,
    });
    const parsed = parseTraceParent(header);
    expect(parsed && formatTraceParent(parsed)).toBe(header);
    expect(parseTraceParent('ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toBeUndefined();
    expect(parseTraceParent('00-00000000000000000000000000000000-00f067aa0ba902b7-01')).toBeUndefined();
    expect(parseTraceParent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra')).toBeUndefined();
    expect(parseTraceParent('garbage')).toBeUndefined();
    expect(parseTraceParent(undefined)).toBeUndefined();
  });
});
