import { ConfigError, PoolGauges, runChain } from '@rxkafka/core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fromKafka } from './from-kafka.js';
import { resolveSettings } from './from-kafka-options.js';
import { producerLibrdkafkaConfig, toKafka } from './to-kafka.js';

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
    [{ ...base, maxHeldBack: 1.5 }, 'maxHeldBack'],
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

  it('bounds the replay window by default at 4 × maxInFlight, following maxInFlight', () => {
    expect(fromKafka(base).limits.maxUncommitted).toBe(16_384);
    expect(fromKafka({ ...base, maxInFlight: 100 }).limits.maxUncommitted).toBe(400);
    expect(fromKafka({ ...base, maxInFlight: 100, maxUncommitted: 150 }).limits.maxUncommitted).toBe(150);
  });

  it('holds back at most maxInFlight / 4 completed records behind slower ones by default, following maxInFlight', () => {
    expect(fromKafka(base).limits.maxHeldBack).toBe(1024);
    expect(fromKafka({ ...base, maxInFlight: 103 }).limits.maxHeldBack).toBe(25);
    expect(fromKafka({ ...base, maxInFlight: 1 }).limits.maxHeldBack).toBe(1);
    expect(fromKafka({ ...base, maxHeldBack: 7 }).limits.maxHeldBack).toBe(7);
  });

  it('shares maxInFlight only while a key-ordered runChain has idle workers and half the limit queued behind keys', () => {
    const keyed = fromKafka({ ...base, maxInFlight: 100 });
    const gauges = new PoolGauges();
    keyed.pipe(runChain([], { ordering: 'key', concurrency: 16, gauges }));
    expect(keyed.sharesInFlight).toBe(false);
    Object.assign(gauges, { active: 4, queued: 50 });
    expect(keyed.sharesInFlight).toBe(true);
    // Every worker busy: the pool is the limit, not the keys.
    Object.assign(gauges, { active: 16, queued: 80 });
    expect(keyed.sharesInFlight).toBe(false);

    const unordered = fromKafka({ ...base, maxInFlight: 100 });
    const unorderedGauges = new PoolGauges();
    unordered.pipe(runChain([], { ordering: 'unordered', gauges: unorderedGauges }));
    Object.assign(unorderedGauges, { active: 4, queued: 90 });
    expect(unordered.sharesInFlight).toBe(false);

    // No runChain attached: off, unless the option turns shares on (then by records in flight).
    expect(fromKafka(base).sharesInFlight).toBe(false);
    const forced = fromKafka({ ...base, maxInFlight: 100, shareInFlight: true });
    expect(forced.sharesInFlight).toBe(false);
    forced.stats.inFlight = 50;
    expect(forced.sharesInFlight).toBe(true);
    const off = fromKafka({ ...base, maxInFlight: 100, shareInFlight: false });
    const offGauges = new PoolGauges();
    off.pipe(runChain([], { ordering: 'key', concurrency: 16, gauges: offGauges }));
    Object.assign(offGauges, { active: 4, queued: 90 });
    expect(off.sharesInFlight).toBe(false);
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
    [{ brokers: 'b:1', deadLetterTopic: 'dlq', transactions: { id: '' } }, 'transactions.id'],
    [{ brokers: 'b:1', deadLetterTopic: 'dlq', transactions: {} }, 'transactions.id'],
    [{ brokers: 'b:1', deadLetterTopic: 'dlq', transactions: { id: 't', maxRecords: 0 } }, 'transactions.maxRecords'],
    [{ brokers: 'b:1', deadLetterTopic: 'dlq', transactions: { id: 't', maxMs: Infinity } }, 'transactions.maxMs'],
    [{ brokers: 'b:1', deadLetterTopic: 'dlq', transactions: { id: 't', maxRecord: 5 } }, 'transactions.maxRecord'],
    [{ brokers: 'b:1', deadLetterTopic: 'dlq', deliveryBatches: true }, 'deliveryBatches'],
    // A union: zod names the option, and its message spells out both forms.
    [{ brokers: 'b:1', deadLetterTopic: 'dlq', deliveryBatches: { maxMs: -1 } }, 'deliveryBatches'],
    [{ brokers: 'b:1', deadLetterTopic: 'dlq', deliveryBatches: { maxRecords: 1.5 } }, 'deliveryBatches'],
    [{ brokers: 'b:1', deadLetterTopic: 'dlq', deliveryBatches: { maxMS: 5 } }, 'deliveryBatches.maxMS'],
    [
      { brokers: 'b:1', deadLetterTopic: 'dlq', transactions: { id: 't' }, deliveryBatches: { maxMs: 1 } },
      'deliveryBatches',
    ],
    [{ brokers: 'b:1', deadLetterTopic: 'dlq', transactions: { id: 't' }, deliveryBatches: false }, 'deliveryBatches'],
  ])('rejects %j, naming `%s`', (options, field) => {
    const create = () => toKafka(options as never);
    expect(create).toThrow(ConfigError);
    expect(create).toThrow(`Invalid option \`${field}\``);
  });
  it('takes delivery batches of its own length, or a delivery report per record', () => {
    const base = { brokers: 'b:1', deadLetterTopic: 'dlq' } as const;
    expect(() => toKafka({ ...base, deliveryBatches: { maxMs: 0, maxRecords: 1 } })).not.toThrow();
    expect(() => toKafka({ ...base, deliveryBatches: false })).not.toThrow();
  });
});

describe('librdkafka defaults', () => {
  // librdkafka backs reconnects off up to 10 s; rxkafka's clients retry a restarted broker every second.
  it('caps the reconnect back-off at 1 s for the consumer and the producer, unless rdkafka sets it', () => {
    expect(resolveSettings(base).librdkafka['reconnect.backoff.max.ms']).toBe(1000);
    expect(producerLibrdkafkaConfig('b:1', {})['reconnect.backoff.max.ms']).toBe(1000);
    const own = { 'reconnect.backoff.max.ms': 5000 };
    expect(resolveSettings({ ...base, rdkafka: own }).librdkafka['reconnect.backoff.max.ms']).toBe(5000);
    expect(producerLibrdkafkaConfig('b:1', own)['reconnect.backoff.max.ms']).toBe(5000);
  });
});
