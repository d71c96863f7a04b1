import { createContext, DeadlineExceededError, HandlerError, invalidOutcome, InvalidRecordError } from '@rxkafka/core';
import type { FailedOutcome, SourceRecord } from '@rxkafka/core';
import { describe, expect, it } from 'vitest';
import { deadLetterRecord, DLQ_HEADERS } from './dead-letter.js';

const source: SourceRecord = {
  topic: 'orders',
  partition: 2,
  offset: 41,
  key: Buffer.from('customer-7'),
  value: Buffer.from([0xff, 0x00, 0x7b]),
  headers: [{ key: 'trace', value: Buffer.from('abc') }],
  timestamp: 1_700_000_000_000,
};

function headersOf(record: ReturnType<typeof deadLetterRecord>): Record<string, string> {
  return Object.fromEntries(record.headers.flatMap((h) => Object.entries(h).map(([k, v]) => [k, v.toString()])));
}

describe('deadLetterRecord', () => {
  it('keeps the original key, value bytes and headers, then adds the reason', () => {
    const context = createContext({ record: {}, source, state: {} });
    const error = new HandlerError('enrich', new Error('customer service down'));
    const outcome: FailedOutcome<object, object> = {
      kind: 'failed',
      handler: 'enrich',
      error,
      context,
      source,
      attempt: 3,
      durationMs: 12,
      deferErrors: [],
      ack: () => undefined,
      nack: () => undefined,
    };
    const record = deadLetterRecord(outcome);
    expect(record.key).toBe(source.key);
    expect(record.value).toBe(source.value);
    const headers = headersOf(record);
    expect(headers).toMatchObject({
      trace: 'abc',
      [DLQ_HEADERS.reason]: 'failed',
      [DLQ_HEADERS.handler]: 'enrich',
      [DLQ_HEADERS.errorCode]: 'ERR_HANDLER',
      [DLQ_HEADERS.errorMessage]: 'Handler "enrich" failed: customer service down',
      [DLQ_HEADERS.topic]: 'orders',
      [DLQ_HEADERS.partition]: '2',
      [DLQ_HEADERS.offset]: '41',
      [DLQ_HEADERS.timestamp]: '1700000000000',
      [DLQ_HEADERS.attempt]: '3',
    });
    expect(headers[DLQ_HEADERS.errorStack]).toContain('HandlerError');
  });

  it('names the decoder stage for invalid records', () => {
    const record = deadLetterRecord(
      invalidOutcome(source, new InvalidRecordError('undecodable', 'Undecodable record: bad JSON')),
    );
    expect(headersOf(record)).toMatchObject({
      [DLQ_HEADERS.reason]: 'invalid',
      [DLQ_HEADERS.handler]: 'decode:undecodable',
      [DLQ_HEADERS.errorCode]: 'ERR_INVALID_RECORD',
    });
  });

  it('bounds the stack header', () => {
    const error = new DeadlineExceededError('slow', 10);
    error.stack = 'x'.repeat(100_000);
    const context = createContext({ record: {}, source, state: {} });
    const record = deadLetterRecord({
      kind: 'timeout',
      handler: 'slow',
      error,
      context,
      source,
      attempt: 1,
      durationMs: 10,
      deferErrors: [],
      ack: () => undefined,
      nack: () => undefined,
    });
    expect(headersOf(record)[DLQ_HEADERS.errorStack]).toHaveLength(4096);
  });
});
