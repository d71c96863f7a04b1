import type { SourceRecord } from '@rxkafka/core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { decodeRecord, jsonDecoder } from './decode.js';

const Order = z.object({ id: z.string(), qty: z.number().int().positive() });

function source(value: string | null): SourceRecord {
  return {
    topic: 't',
    partition: 0,
    offset: 0,
    key: null,
    value: value === null ? null : Buffer.from(value),
    headers: [],
    timestamp: 0,
  };
}

describe('decodeRecord', () => {
  it('decodes and validates', () => {
    expect(decodeRecord(source('{"id":"a","qty":2}'), jsonDecoder, Order)).toEqual({
      ok: true,
      record: { id: 'a', qty: 2 },
    });
  });

  it('reports undecodable bytes as a value, never a throw', () => {
    const result = decodeRecord(source('{"id":'), jsonDecoder, Order);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.reason).toBe('undecodable');
      expect(result.error.code).toBe('ERR_INVALID_RECORD');
      expect(result.error.cause).toBeInstanceOf(SyntaxError);
    }
  });

  it('reports schema violations with their paths', () => {
    const result = decodeRecord(source('{"id":"a","qty":-1}'), jsonDecoder, Order);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.reason).toBe('schema');
      expect(result.error.message).toMatch(/^Schema violation: qty: /);
    }
  });

  it('decodes a tombstone to null, which the schema then judges', () => {
    expect(decodeRecord(source(null), jsonDecoder, Order.nullable())).toEqual({ ok: true, record: null });
    expect(decodeRecord(source(null), jsonDecoder, Order).ok).toBe(false);
  });
});
