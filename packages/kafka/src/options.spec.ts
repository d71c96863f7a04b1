import { ConfigError, runChain } from '@rxkafka/core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fromKafka } from './from-kafka.js';
import { toKafka } from './to-kafka.js';

// These never reach librdkafka: validation runs in the factory, before any native object exists.
const base = { brokers: '127.0.0.1:9092', groupId: 'g', topics: ['t'], schema: z.unknown() };

describe('fromKafka options', () => {
  it.each([
    [{ ...base, groupId: '' }, 'groupId'],
    [{ ...base, groupId: undefined }, 'groupId'],
    [{ ...base, topics: [] }, 'topics'],
    [{ ...base, brokers: '' }, 'brokers'],
    [{ ...base, schema: { parse: () => 1 } }, 'schema'],
    [{ ...base, maxInFlight: 0 }, 'maxInFlight'],
    [{ ...base, resumeAt: 1.5 }, 'resumeAt'],
    [{ ...base, maxUncommitted: 0 }, 'maxUncommitted'],
    [{ ...base, stallTimeout: 999 }, 'stallTimeout'],
    [{ ...base, stallTimeout: '30s' }, 'stallTimeout'],
    [{ ...base, headOfLineWarnAfter: -1 }, 'headOfLineWarnAfter'],
    [{ ...base, drainTimeout: 2 ** 31 }, 'drainTimeout'],
    [{ ...base, connectTimeout: Infinity }, 'connectTimeout'],
    [{ ...base, logger: {} }, 'logger'],
    [{ ...base, groupID: 'typo' }, 'groupID'],
    [{ ...base, rdkafka: { 'fetch.wait.max.msec': 10 } }, 'rdkafka.fetch.wait.max.msec'],
  ])('rejects %j, naming `%s`', (options, field) => {
    const create = () => fromKafka(options as never);
    expect(create).toThrow(ConfigError);
    expect(create).toThrow(`Invalid option \`${field}\``);
  });

  it('refuses settings that would break at-least-once', () => {
    expect(() => fromKafka({ ...base, rdkafka: { 'enable.auto.commit': true } })).toThrow(
      'Invalid option `rdkafka.enable.auto.commit`',
    );
    expect(() => fromKafka({ ...base, rdkafka: { 'enable.auto.offset.store': true } })).toThrow(
      'Invalid option `rdkafka.enable.auto.offset.store`',
    );
  });

  it("fails at construction when runChain's pool is wider than maxInFlight; the default fits concurrency 1024", () => {
    const apply = () => fromKafka({ ...base, maxInFlight: 500 }).pipe(runChain([], { concurrency: 1024 }));
    expect(apply).toThrow(ConfigError);
    expect(apply).toThrow("expected at most the source's maxInFlight (500)");
    const source = fromKafka(base);
    expect(source.limits.maxInFlight).toBe(4096);
    expect(() => source.pipe(runChain([], { concurrency: 1024, ordering: 'unordered' }))).not.toThrow();
  });

  it('shares maxInFlight among partitions unless runChain, applied directly, runs unordered or the option says', () => {
    const keyed = fromKafka(base);
    expect(keyed.sharesInFlight).toBe(true);
    keyed.pipe(runChain([], { ordering: 'partition' }));
    expect(keyed.sharesInFlight).toBe(true);
    const unordered = fromKafka(base);
    unordered.pipe(runChain([], { ordering: 'unordered' }));
    expect(unordered.sharesInFlight).toBe(false);
    const forced = fromKafka({ ...base, shareInFlight: true });
    forced.pipe(runChain([], { ordering: 'unordered' }));
    expect(forced.sharesInFlight).toBe(true);
    expect(fromKafka({ ...base, shareInFlight: false }).sharesInFlight).toBe(false);
  });

  it('explains a wrong type in words, like core does', () => {
    const create = () => fromKafka({ ...base, maxInFlight: '10' } as never);
    expect(create).toThrow('Invalid option `maxInFlight`: expected records (an integer >= 1), received "10"');
    expect(create).not.toThrow(/Invalid input/);
    expect(() => fromKafka({ ...base, schema: { parse: () => 1 } } as never)).toThrow(/Standard Schema v1/);
  });

  it('takes Infinity as no limit where a wait may be unbounded', () => {
    expect(() => fromKafka({ ...base, drainTimeout: Infinity, stallTimeout: Infinity })).not.toThrow();
  });

  it('requires a state factory when the state has a required field', () => {
    // @ts-expect-error `state` is required: `{}` is not a `{ count: number }`
    expect(() => fromKafka<unknown, { count: number }>(base)).not.toThrow();
    expect(() => fromKafka<unknown, { count: number }>({ ...base, state: () => ({ count: 0 }) })).not.toThrow();
    expect(() => fromKafka<unknown, { count?: number }>(base)).not.toThrow();
  });

  it('accepts a RegExp subscription', () => {
    expect(() => fromKafka({ ...base, topics: /^orders\./ })).not.toThrow();
  });
});

describe('toKafka options', () => {
  it.each([
    [{ brokers: 'b:1' }, 'deadLetterTopic'],
    [{ brokers: 'b:1', deadLetterTopic: '' }, 'deadLetterTopic'],
    [{ brokers: 'b:1', deadLetterTopic: 'dlq', rdkafka: { 'linger.msec': 1 } }, 'rdkafka.linger.msec'],
    [{ brokers: 'b:1', deadLetterTopic: 'dlq', flushTimeout: -1 }, 'flushTimeout'],
    [{ brokers: 'b:1', deadLetterTopic: 'dlq', deliveryAttempts: 0 }, 'deliveryAttempts'],
    [{ brokers: 'b:1', deadLetterTopic: 'dlq', deadLetterLog: { levle: 'warn' } }, 'deadLetterLog.levle'],
    [{ brokers: 'b:1', deadLetterTopic: 'dlq', serialize: 'json' }, 'serialize'],
  ])('rejects %j, naming `%s`', (options, field) => {
    const create = () => toKafka(options as never);
    expect(create).toThrow(ConfigError);
    expect(create).toThrow(`Invalid option \`${field}\``);
  });
});
