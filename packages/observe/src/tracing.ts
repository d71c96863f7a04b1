import diagnosticsChannel from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import type { Attributes, Span, Tracer, TracerProvider } from '@opentelemetry/api';
import {
  HANDLER_CHANNEL,
  isDeadLetter,
  RECORD_CHANNEL,
  type HandlerTrace,
  type RecordTrace,
  type SourceRecord,
} from '@rxkafka/core';
import {
  CHANNELS,
  PRODUCE_CHANNEL,
  type ConsumedMessage,
  type ProduceTrace,
  type SettledMessage,
} from '@rxkafka/kafka';
import { formatTraceParent, parseTraceParent } from './traceparent.js';

export interface TracingOptions {
  /** Default: the global tracer provider's tracer `@rxkafka/observe`. */
  readonly tracer?: Tracer;
  readonly tracerProvider?: TracerProvider;
}

export interface RecordTracing extends Disposable {
  close(): void;
}

type Api = typeof import('@opentelemetry/api');

/**
 * OpenTelemetry spans for rxkafka (`@opentelemetry/api` is an optional peer dependency, loaded only
 * here): a `process <topic>` span per consumed record (CONSUMER, from fetch to acknowledgement, with
 * the messaging semantic conventions: system, destination, partition, offset, consumer group, key),
 * a child span per handler, and a `publish <topic>` span (PRODUCER) per output or dead-letter record.
 *
 * The trace context travels in the W3C `traceparent` header: a record that carries one continues its
 * trace, and every record it causes (outputs and dead-letter records) carries the publish span's
 * context on. So a chain of services shows as one trace per input record.
 *
 * @example
 * ```ts
 * using tracing = traceRecords({ tracerProvider }); // or the global provider
 * ```
 */
export function traceRecords(options: TracingOptions = {}): RecordTracing {
  const api = createRequire(import.meta.url)('@opentelemetry/api') as Api;
  const tracer =
    options.tracer ?? (options.tracerProvider ?? api.trace.getTracerProvider()).getTracer('@rxkafka/observe', '0.1.0');
  // The process span of each record, from its fetch (Kafka) or its start in runChain (other sources).
  const processSpans = new WeakMap<SourceRecord, { span: Span; endsAtAck: boolean }>();
  const handlerSpans = new WeakMap<HandlerTrace, Span>();
  const produceSpans = new WeakMap<ProduceTrace, Span>();
  const unsubscribe: (() => void)[] = [];

  const startProcess = (source: SourceRecord, groupId: string | undefined, endsAtAck: boolean): Span => {
    const parent = parseTraceParent(headerOf(source, 'traceparent'));
    const parentContext =
      parent === undefined
        ? api.ROOT_CONTEXT
        : api.trace.setSpanContext(api.ROOT_CONTEXT, { ...parent, isRemote: true });
    const attributes: Attributes = {
      'messaging.system': 'kafka',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.name': source.topic,
      'messaging.destination.partition.id': String(source.partition),
      'messaging.kafka.offset': source.offset,
    };
    if (groupId !== undefined) attributes['messaging.consumer.group.name'] = groupId;
    if (source.key !== null) attributes['messaging.kafka.message.key'] = source.key.toString('utf8');
    const span = tracer.startSpan(
      `process ${source.topic}`,
      { kind: api.SpanKind.CONSUMER, attributes },
      parentContext,
    );
    processSpans.set(source, { span, endsAtAck });
    return span;
  };

  const subscribe = (name: string, listener: (message: never) => void): void => {
    const wrapped = listener as (message: unknown) => void;
    diagnosticsChannel.subscribe(name, wrapped);
    unsubscribe.push(() => diagnosticsChannel.unsubscribe(name, wrapped));
  };
  const traceChannel = <T extends object>(name: string, start: (m: T) => void, asyncEnd: (m: T) => void): void => {
    const channel = diagnosticsChannel.tracingChannel<object, T>(name);
    const noop = (): void => undefined;
    const subscribers = { start, end: noop, asyncStart: noop, asyncEnd, error: noop };
    channel.subscribe(subscribers);
    unsubscribe.push(() => channel.unsubscribe(subscribers));
  };

  subscribe(CHANNELS.record, (m: ConsumedMessage) => {
    startProcess(m.source, m.groupId, true);
  });
  subscribe(CHANNELS.settled, (m: SettledMessage) => {
    const entry = processSpans.get(m.source);
    if (entry === undefined) return;
    processSpans.delete(m.source);
    if (!m.done) entry.span.setAttribute('rxkafka.released', true);
    entry.span.end();
  });
  traceChannel<RecordTrace>(
    RECORD_CHANNEL,
    (m) => {
      if (!processSpans.has(m.context.source)) startProcess(m.context.source, undefined, false);
    },
    (m) => {
      const entry = processSpans.get(m.context.source);
      const outcome = m.outcome;
      if (entry === undefined) return;
      if (outcome !== undefined) {
        entry.span.setAttribute('rxkafka.outcome', outcome.kind);
        entry.span.setAttribute('rxkafka.attempts', outcome.attempt);
        if (outcome.kind !== 'ok' && outcome.kind !== 'invalid')
          entry.span.setAttribute('rxkafka.handler', outcome.handler);
        if (isDeadLetter(outcome)) {
          entry.span.recordException(outcome.error);
          entry.span.setStatus({ code: api.SpanStatusCode.ERROR, message: outcome.error.message });
        }
      }
      if (!entry.endsAtAck) {
        processSpans.delete(m.context.source);
        entry.span.end();
      }
    },
  );
  traceChannel<HandlerTrace>(
    HANDLER_CHANNEL,
    (m) => {
      const parent = processSpans.get(m.context.source)?.span;
      const parentContext = parent === undefined ? api.ROOT_CONTEXT : api.trace.setSpan(api.ROOT_CONTEXT, parent);
      const span = tracer.startSpan(
        m.handler,
        {
          kind: api.SpanKind.INTERNAL,
          attributes: {
            'rxkafka.handler': m.handler,
            'rxkafka.handler.index': m.index,
            'rxkafka.attempt': m.context.attempt,
          },
        },
        parentContext,
      );
      handlerSpans.set(m, span);
    },
    (m) => {
      const span = handlerSpans.get(m);
      if (span === undefined) return;
      handlerSpans.delete(m);
      span.setAttribute('rxkafka.result', m.result ?? 'continue');
      if (m.error !== undefined) {
        const error = asError(m.error);
        span.recordException(error);
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: error.message });
      }
      span.end();
    },
  );
  traceChannel<ProduceTrace>(
    PRODUCE_CHANNEL,
    (m) => {
      const parent = processSpans.get(m.source)?.span;
      const parentContext = parent === undefined ? api.ROOT_CONTEXT : api.trace.setSpan(api.ROOT_CONTEXT, parent);
      const span = tracer.startSpan(
        `publish ${m.topic}`,
        {
          kind: api.SpanKind.PRODUCER,
          attributes: {
            'messaging.system': 'kafka',
            'messaging.operation.type': 'send',
            'messaging.operation.name': 'publish',
            'messaging.destination.name': m.topic,
            'rxkafka.dead_letter': m.deadLetter,
          },
        },
        parentContext,
      );
      produceSpans.set(m, span);
      const context = span.spanContext();
      if (api.isSpanContextValid(context)) m.headers['traceparent'] = formatTraceParent(context);
    },
    (m) => {
      const span = produceSpans.get(m);
      if (span === undefined) return;
      produceSpans.delete(m);
      if (m.error !== undefined) {
        const error = asError(m.error);
        span.recordException(error);
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: error.message });
      }
      span.end();
    },
  );

  const close = (): void => {
    for (const undo of unsubscribe.splice(0)) undo();
  };
  return { close, [Symbol.dispose]: close };
}

/** The last value of a header, as UTF-8. */
function headerOf(source: SourceRecord, key: string): string | undefined {
  for (let i = source.headers.length - 1; i >= 0; i--) {
    const header = source.headers[i];
    if (header?.key === key) return header.value.toString('utf8');
  }
  return undefined;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(typeof error === 'string' ? error : 'non-Error thrown');
}
