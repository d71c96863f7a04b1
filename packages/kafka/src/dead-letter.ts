import type { DeadLetterOutcome, SourceRecord } from '@rxkafka/core';

/** Header names on dead-letter records. Values are UTF-8 strings. */
export const DLQ_HEADERS = {
  reason: 'rxkafka.reason',
  handler: 'rxkafka.handler',
  errorCode: 'rxkafka.error.code',
  errorMessage: 'rxkafka.error.message',
  errorStack: 'rxkafka.error.stack',
  topic: 'rxkafka.source.topic',
  partition: 'rxkafka.source.partition',
  offset: 'rxkafka.source.offset',
  timestamp: 'rxkafka.source.timestamp',
  attempt: 'rxkafka.attempt',
} as const;

// Kafka headers travel with every fetch of the record: keep the stack useful but bounded.
const MAX_STACK_CHARS = 4096;

export interface DeadLetterRecord {
  readonly key: Buffer | null;
  /** The original bytes, untouched, so the record can be replayed once fixed. */
  readonly value: Buffer | null;
  readonly headers: Record<string, string | Buffer>[];
}

/** The dead-letter record for an outcome: original key and value, original headers, then the reason. */
export function deadLetterRecord<R, S>(outcome: DeadLetterOutcome<R, S>): DeadLetterRecord {
  const { source, error } = outcome;
  const reasonHeaders: Record<string, string> = {
    [DLQ_HEADERS.reason]: outcome.kind,
    [DLQ_HEADERS.handler]: outcome.kind === 'invalid' ? `decode:${outcome.error.reason}` : outcome.handler,
    [DLQ_HEADERS.errorCode]: error.code,
    [DLQ_HEADERS.errorMessage]: headerSafe(error.message),
    [DLQ_HEADERS.errorStack]: headerSafe(stackWithCauses(error)).slice(0, MAX_STACK_CHARS),
    [DLQ_HEADERS.topic]: source.topic,
    [DLQ_HEADERS.partition]: String(source.partition),
    [DLQ_HEADERS.offset]: String(source.offset),
    [DLQ_HEADERS.timestamp]: String(source.timestamp),
    [DLQ_HEADERS.attempt]: String(outcome.attempt),
  };
  return {
    key: source.key,
    value: source.value,
    // One header per object: the shape node-rdkafka reads headers in.
    headers: [
      ...source.headers.map((h) => ({ [h.key]: h.value })),
      ...Object.entries(reasonHeaders).map(([k, v]) => ({ [k]: v })),
    ],
  };
}

/**
 * The error's stack followed by its causes' stacks. A `HandlerError` is made by rxkafka after the
 * handler's error unwound, so its own stack never shows the handler; the cause's stack does.
 */
function stackWithCauses(error: Error): string {
  let text = error.stack ?? `${error.name}: ${error.message}`;
  const seen = new Set<unknown>([error]);
  let cause: unknown = error.cause;
  // Bounded: causes can form cycles, and the header is cut at MAX_STACK_CHARS anyway.
  while (cause instanceof Error && !seen.has(cause) && seen.size < 5) {
    seen.add(cause);
    text += `\nCaused by: ${cause.stack ?? `${cause.name}: ${cause.message}`}`;
    cause = cause.cause;
  }
  return text;
}

/**
 * node-rdkafka 3.6 copies string header values through a C string, so a NUL cuts the value short
 * (error messages quote the record's bytes, e.g. a JSON parse error). Escape it instead.
 */
function headerSafe(text: string): string {
  return text.replaceAll('\u0000', '\\u0000');
}

/** The record as a log line shows it: coordinates, and key and value as (truncated) text. */
export function describeRecord(source: SourceRecord): Record<string, unknown> {
  return {
    topic: source.topic,
    partition: source.partition,
    offset: source.offset,
    key: source.key?.toString('utf8') ?? null,
    value: source.value === null ? null : source.value.toString('utf8', 0, Math.min(source.value.length, 2048)),
  };
}
