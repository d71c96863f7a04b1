import { ConfigError } from '@rxkafka/core';
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
    [{ ...base, headOfLineWarnAfter: 0 }, 'headOfLineWarnAfter'],
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
  ])('rejects %j, naming `%s`', (options, field) => {
    const create = () => toKafka(options as never);
    expect(create).toThrow(ConfigError);
    expect(create).toThrow(`Invalid option \`${field}\``);
  });
});
