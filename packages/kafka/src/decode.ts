import { InvalidRecordError, toError, type SourceRecord } from '@rxkafka/core';
import type { z } from 'zod';

/** Turns a record's raw value into the input of its schema. Throwing marks the record undecodable. */
export type Decoder = (value: Buffer | null, source: SourceRecord) => unknown;

/** The default: UTF-8 JSON; a null value (tombstone) decodes to `null`. */
export const jsonDecoder: Decoder = (value) =>
  value === null ? null : (JSON.parse(value.toString('utf8')) as unknown);

export type Decoded<R> =
  { readonly ok: true; readonly record: R } | { readonly ok: false; readonly error: InvalidRecordError };

/** Decodes and validates one record. Never throws: a bad record is a value, bound for the dead-letter topic. */
export function decodeRecord<R>(source: SourceRecord, decoder: Decoder, schema: z.ZodType<R>): Decoded<R> {
  let raw: unknown;
  try {
    raw = decoder(source.value, source);
  } catch (error) {
    const cause = toError(error);
    return {
      ok: false,
      error: new InvalidRecordError('undecodable', `Undecodable record: ${cause.message}`, { cause }),
    };
  }
  const parsed = schema.safeParse(raw);
  if (parsed.success) return { ok: true, record: parsed.data };
  const detail = parsed.error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ');
  return { ok: false, error: new InvalidRecordError('schema', `Schema violation: ${detail}`, { cause: parsed.error }) };
}
