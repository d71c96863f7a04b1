import type { SourceRecord } from '@rxkafka/core';
import { describe, expect, it } from 'vitest';
import { type } from 'arktype';
import * as v from 'valibot';
import { z } from 'zod';
import * as zm from 'zod/mini';
import { decodeRecord, jsonDecoder, type Decoded, type Decoder } from './decode.js';
import type { StandardSchemaV1 } from './schema.js';

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

/** The result of a decode that must have been synchronous. */
function sync<R>(result: Decoded<R> | Promise<Decoded<R>>): Decoded<R> {
  if (result instanceof Promise) throw new Error('expected a synchronous result');
  return result;
}

describe('decodeRecord', () => {
  it('decodes and validates', () => {
    expect(decodeRecord(source('{"id":"a","qty":2}'), jsonDecoder, Order)).toEqual({
      ok: true,
      record: { id: 'a', qty: 2 },
    });
  });

  it('reports undecodable bytes as a value, never a throw', () => {
    const result = sync(decodeRecord(source('{"id":'), jsonDecoder, Order));
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.reason).toBe('undecodable');
      expect(result.error.code).toBe('ERR_INVALID_RECORD');
      expect(result.error.cause).toBeInstanceOf(SyntaxError);
    }
  });

  it('reports schema violations with their paths', () => {
    const result = sync(decodeRecord(source('{"id":"a","qty":-1}'), jsonDecoder, Order));
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.reason).toBe('schema');
      expect(result.error.message).toMatch(/^Schema violation: qty: /);
    }
  });

  it('decodes a tombstone to null, which the schema then judges', () => {
    expect(decodeRecord(source(null), jsonDecoder, Order.nullable())).toEqual({ ok: true, record: null });
    expect(sync(decodeRecord(source(null), jsonDecoder, Order)).ok).toBe(false);
  });
});

describe('decodeRecord with any Standard Schema v1 validator', () => {
  const ok = '{"id":"a","qty":2}';
  const bad = '{"id":"a","qty":-1}';

  it.each([
    ['zod', Order],
    ['zod/mini', zm.object({ id: zm.string(), qty: zm.number().check(zm.int(), zm.positive()) })],
    ['valibot', v.object({ id: v.string(), qty: v.pipe(v.number(), v.integer(), v.minValue(1)) })],
    ['arktype', type({ id: 'string', qty: 'number.integer > 0' })],
  ] as const)('%s', (_name, schema: StandardSchemaV1<unknown, { id: string; qty: number }>) => {
    expect(decodeRecord(source(ok), jsonDecoder, schema)).toEqual({ ok: true, record: { id: 'a', qty: 2 } });
    const result = decodeRecord(source(bad), jsonDecoder, schema);
    expect(result).toMatchObject({ ok: false, error: { reason: 'schema', code: 'ERR_INVALID_RECORD' } });
    if (!(result instanceof Promise) && !result.ok) expect(result.error.message).toMatch(/^Schema violation: qty: /);
  });

  it('awaits an asynchronous decoder, and types its rejection as undecodable', async () => {
    const lookup: Decoder = async (value) => {
      await Promise.resolve();
      if (value?.[0] === 0) throw new Error('unknown schema id 7');
      return JSON.parse(String(value)) as unknown;
    };
    await expect(decodeRecord(source(ok), lookup, Order)).resolves.toEqual({ ok: true, record: { id: 'a', qty: 2 } });
    const rejected = await decodeRecord(source('\u0000\u0000\u0000\u0000\u0007'), lookup, Order);
    expect(rejected).toMatchObject({
      ok: false,
      error: { reason: 'undecodable', message: 'Undecodable record: unknown schema id 7' },
    });
  });

  it("awaits a decoder's thenable that is not a native Promise, and its rejection", async () => {
    const thenable = (
      settle: (resolve: (v: unknown) => void, reject: (e: unknown) => void) => void,
    ): PromiseLike<unknown> => ({
      then: (onFulfilled, onRejected) => new Promise(settle).then(onFulfilled, onRejected),
    });
    const fromOtherLibrary: Decoder = (value) =>
      value?.[0] === 0
        ? thenable((_, reject) => reject(new Error('unknown schema id 7')))
        : thenable((resolve) => resolve(JSON.parse(String(value))));
    await expect(decodeRecord(source(ok), fromOtherLibrary, Order)).resolves.toEqual({
      ok: true,
      record: { id: 'a', qty: 2 },
    });
    await expect(decodeRecord(source('\u0000\u0007'), fromOtherLibrary, Order)).resolves.toMatchObject({
      ok: false,
      error: { reason: 'undecodable', message: 'Undecodable record: unknown schema id 7' },
    });
  });

  it('awaits an asynchronous validator', async () => {
    const checked = Order.refine(async (order) => {
      await Promise.resolve();
      return order.id !== 'banned';
    }, 'banned id');
    await expect(decodeRecord(source(ok), jsonDecoder, checked)).resolves.toMatchObject({ ok: true });
    await expect(decodeRecord(source('{"id":"banned","qty":1}'), jsonDecoder, checked)).resolves.toMatchObject({
      ok: false,
      error: { reason: 'schema', message: 'Schema violation: (root): banned id' },
    });
  });

  it('stays synchronous for a synchronous decoder and validator', () => {
    expect(decodeRecord(source(ok), jsonDecoder, Order)).not.toBeInstanceOf(Promise);
  });
});
