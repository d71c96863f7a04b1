import { createContext, type Context, type RecordHeader, type SourceRecord } from '@rxkafka/core';

/** What a test context may be given; `state` is required by the types when `S` has a required field. */
export type TestContextInit<S> = TestContextCoordinates &
  (Record<string, never> extends S ? { readonly state?: S } : { readonly state: S });

/** The init argument may be left out only when the state needs no value. */
type TestContextArgument<S> =
  Record<string, never> extends S ? [init?: TestContextInit<S>] : [init: TestContextInit<S>];

interface TestContextCoordinates {
  readonly topic?: string;
  readonly partition?: number;
  readonly offset?: number;
  readonly key?: string | null;
  readonly headers?: Readonly<Record<string, string>>;
  readonly timestamp?: number;
  readonly signal?: AbortSignal;
  readonly ack?: () => void;
}

let nextOffset = 0;

/** A context for a handler test: a record with plausible Kafka coordinates and empty state. */
export function testContext<R, S = Record<string, unknown>>(
  record: R,
  ...[given]: TestContextArgument<S>
): Context<R, S> {
  const init: TestContextCoordinates & { readonly state?: S } = given ?? {};
  const headers: RecordHeader[] = Object.entries(init.headers ?? {}).map(([key, value]) => ({
    key,
    value: Buffer.from(value),
  }));
  const source: SourceRecord = {
    topic: init.topic ?? 'test-topic',
    partition: init.partition ?? 0,
    offset: init.offset ?? nextOffset++,
    key: init.key === undefined || init.key === null ? null : Buffer.from(init.key),
    // JSON.stringify returns undefined for undefined, despite its declared type.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
    value: Buffer.from(JSON.stringify(record) ?? 'null'),
    headers,
    timestamp: init.timestamp ?? 0,
  };
  return createContext({
    record,
    source,
    // Without a value every field of S is optional (the types see to it), so {} is a valid S.
    state: init.state ?? ({} as S),
    ...(init.signal === undefined ? {} : { signal: init.signal }),
    ...(init.ack === undefined ? {} : { ack: init.ack }),
  });
}
