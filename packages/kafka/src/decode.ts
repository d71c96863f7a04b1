import { InvalidRecordError, toError, type SourceRecord } from '@rxkafka/core';
import { isPromiseLike } from '@rxkafka/core/options';
import { issuePath, type StandardSchemaV1 } from './schema.js';

/**
 * Turns a record's raw value into the input of its schema. Throwing (or rejecting) marks the record
 * undecodable. It may return a Promise, e.g. to look a writer's schema up in a schema registry.
 */
export type Decoder = (value: Buffer | null, source: SourceRecord) => unknown;

/** The default: UTF-8 JSON; a null value (tombstone) decodes to `null`. */
export const jsonDecoder: Decoder = (value) =>
  value === null ? null : (JSON.parse(value.toString('utf8')) as unknown);

export type Decoded<R> =
  { readonly ok: true; readonly record: R } | { readonly ok: false; readonly error: InvalidRecordError };

/**
 * Decodes and validates one record. Never throws or rejects: a bad record is a value, bound for the
 * dead-letter topic. Synchronous when the decoder and the validator are, a Promise otherwise.
 */
export function decodeRecord<R>(
  source: SourceRecord,
  decoder: Decoder,
  schema: StandardSchemaV1<unknown, R>,
): Decoded<R> | Promise<Decoded<R>> {
  let raw: unknown;
  try {
    raw = decoder(source.value, source);
  } catch (error) {
    return undecodable(error);
  }
  if (isPromiseLike(raw)) {
    // Promise.resolve adopts any thenable (another library's, another realm's) as a native Promise.
    return Promise.resolve(raw).then((value) => validate(value, schema), undecodable);
  }
  return validate(raw, schema);
}

function validate<R>(raw: unknown, schema: StandardSchemaV1<unknown, R>): Decoded<R> | Promise<Decoded<R>> {
  let result: StandardSchemaV1.Result<R> | Promise<StandardSchemaV1.Result<R>>;
  try {
    result = schema['~standard'].validate(raw);
  } catch (error) {
    return schemaViolation(`the validator threw: ${toError(error).message}`, error);
  }
  return isPromiseLike(result)
    ? Promise.resolve(result).then(judge, (error: unknown) =>
        schemaViolation(`the validator threw: ${toError(error).message}`, error),
      )
    : judge(result);
}

function judge<R>(result: StandardSchemaV1.Result<R>): Decoded<R> {
  if (result.issues === undefined) return { ok: true, record: result.value };
  const detail = result.issues.map((issue) => `${issuePath(issue)}: ${issue.message}`).join('; ');
  return schemaViolation(detail, result.issues);
}

function undecodable(error: unknown): Decoded<never> {
  const cause = toError(error);
  return { ok: false, error: new InvalidRecordError('undecodable', `Undecodable record: ${cause.message}`, { cause }) };
}

function schemaViolation(detail: string, cause: unknown): Decoded<never> {
  return { ok: false, error: new InvalidRecordError('schema', `Schema violation: ${detail}`, { cause }) };
}
