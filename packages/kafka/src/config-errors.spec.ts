/**
 * The README's promises about every ConfigError of the public constructors: it names the option, says
 * what was expected in words, and never shows a secret. They validate when called, so no broker is needed.
 */
import { inspect } from 'node:util';
import { ConfigError } from '@rxkafka/core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { acknowledge, type AcknowledgeOptions } from './acknowledge.js';
import { fromKafka } from './from-kafka.js';
import type { KafkaSourceOptions } from './from-kafka-options.js';
import { toKafka, type ToKafkaOptions } from './to-kafka.js';

const SOURCE = { brokers: '127.0.0.1:9092', groupId: 'g', topics: ['t'], schema: z.unknown() };
const SINK = { brokers: '127.0.0.1:9092', deadLetterTopic: 'dlq' };

const CONSTRUCTORS = {
  fromKafka: (options: object) => fromKafka({ ...SOURCE, ...options }),
  toKafka: (options: object) => toKafka({ ...SINK, ...options }),
  acknowledge: (options: object) => acknowledge(options),
};

function configErrorOf(create: () => unknown): ConfigError {
  try {
    create();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

const noop = (): void => undefined;

describe('a ConfigError never shows a secret', () => {
  const SECRET = 'hunter2-do-not-print';
  const CYCLIC: Record<string, unknown> = { 'sasl.password': SECRET };
  CYCLIC['self'] = CYCLIC;
  it.each([
    ['fromKafka', { rdkafka: { 'sasl.password': [SECRET] } }],
    ['toKafka', { rdkafka: { 'sasl.password': [SECRET] } }],
    ['fromKafka', { rdkafka: { 'ssl.key.password': { value: SECRET } } }],
    ['toKafka', { rdkafka: { 'ssl.key.password': { value: SECRET } } }],
    ['fromKafka', { rdkafka: { 'sasl.pasword': SECRET } }],
    ['toKafka', { rdkafka: { 'sasl.pasword': SECRET } }],
    ['fromKafka', { rdkafka: `sasl.password=${SECRET}` }],
    ['toKafka', { rdkafka: [['sasl.password', SECRET]] }],
    // A misspelled option still holds the credentials.
    ['fromKafka', { rdkfka: { 'sasl.mechanisms': 'PLAIN', 'sasl.password': SECRET } }],
    ['toKafka', { rdkafak: { 'sasl.password': SECRET } }],
    ['toKafka', { saslPassword: SECRET }],
    ['fromKafka', { rdkfka: CYCLIC }],
    // kafkajs's form, under a key that names no secret.
    ['fromKafka', { rdkafka: { sasl: { mechanism: 'plain', username: 'u', password: SECRET } } }],
    ['toKafka', { rdkafka: { sasl: { mechanism: 'plain', username: 'u', password: SECRET } } }],
    ['acknowledge', { rdkafka: { 'sasl.password': SECRET } }],
  ] as const)('%s(%j)', (constructor, options) => {
    const error = configErrorOf(() => CONSTRUCTORS[constructor](options));
    // Everything a logger or a crash report could print of the error.
    const printed = [
      error.message,
      JSON.stringify(error.received),
      JSON.stringify(error),
      inspect(error, { depth: 9 }),
    ];
    for (const text of printed) expect(text).not.toContain(SECRET);
    expect(error.message).toContain('[redacted]');
  });
});

/** Zod's own messages (zod 4, English), and the vaguest words of rxkafka's fallback for schemas that say nothing. */
const STOCK_PHRASES =
  /Invalid (input|option|string|number|key|value|discriminator|type)|Too (small|big)|Unrecognized key|Expected |expected (string|number|int|boolean|object|array|function|nonoptional)\b|a valid value|a value of type|one of the accepted forms/;

type BadValues<O> = { readonly [K in keyof Required<O>]: readonly unknown[] };

const LOGGER_WITHOUT_INFO = { warn: noop, error: noop };

const BAD_SOURCE_OPTIONS = {
  brokers: [undefined, '', 9092, ['a:1']],
  groupId: [undefined, '', 1],
  topics: [undefined, [], [''], [1], 't', {}],
  schema: [undefined, {}, { parse: noop }, 'zod'],
  decode: ['json', 1],
  state: [{}, 'x'],
  maxInFlight: ['10', 0, 1.5, -1, Infinity, Number.NaN],
  maxInFlightBytes: [1, '1', 2048.5],
  maxUncommitted: [0, 'x'],
  maxHeldBack: [0, 1.5],
  resumeAt: [0, 1.5, '0.5'],
  shareInFlight: ['yes', 1],
  pauseAfter: [-1, Infinity, '1s'],
  batchSize: [0, 'x'],
  pollTimeout: [0, 'x'],
  commitInterval: [0, 'x'],
  commitEvery: [0, 'x'],
  stallTimeout: [999, '30s', Number.NaN],
  headOfLineWarnAfter: [-1, 'x'],
  drainTimeout: [2 ** 31, -1, 'x'],
  abortGrace: [2 ** 31, 'x'],
  connectTimeout: [Infinity, 'x'],
  signal: [{}, 'x'],
  rdkafka: [
    'x',
    [],
    1,
    null,
    { 'fetch.wait.max.ms': {} },
    { 'fetch.wait.max.msec': 1 },
    { 'enable.auto.commit': true },
  ],
  logger: [{}, 'x', LOGGER_WITHOUT_INFO],
} satisfies BadValues<KafkaSourceOptions<unknown> & { state: unknown }>;

const BAD_SINK_OPTIONS = {
  brokers: [undefined, '', 9092],
  deadLetterTopic: [undefined, '', 1, true],
  serialize: ['json', 1],
  logger: [{}, LOGGER_WITHOUT_INFO],
  deadLetterLog: ['x', 1, { level: 'debug' }, { levle: 'warn' }, { maxPerSecond: 0 }, { maxPerSecond: 'x' }],
  flushTimeout: [-1, Infinity, 'x'],
  connectTimeout: [-1, Infinity, 'x'],
  deliveryAttempts: [0, 1.5, 'x'],
  deliveryBatches: [true, 'x', { maxMs: -1 }, { maxRecords: 1.5 }, { maxMS: 5 }],
  transactions: ['x', 1, {}, { id: '' }, { id: 1 }, { id: 't', maxRecords: 0 }, { id: 't', maxMs: Infinity }],
  rdkafka: ['x', { 'linger.ms': {} }, { 'linger.msec': 1 }, { 'group.id': 'g' }],
} satisfies BadValues<ToKafkaOptions>;

const BAD_ACKNOWLEDGE_OPTIONS = {
  logger: [{}, LOGGER_WITHOUT_INFO],
  deadLetterLog: ['x', { level: 'debug' }, { levle: 'warn' }, { maxPerSecond: 0 }],
} satisfies BadValues<AcknowledgeOptions>;

function cases(table: Record<string, readonly unknown[]>): [string, unknown][] {
  return Object.entries(table).flatMap(([option, values]) => values.map((value): [string, unknown] => [option, value]));
}

describe('a ConfigError names the option and says what was expected in words', () => {
  function expectExplained(error: ConfigError, option: string): void {
    expect(error.field === option || error.field.startsWith(`${option}.`)).toBe(true);
    const prefix = `Invalid option \`${error.field}\`: expected `;
    expect(error.message.startsWith(prefix)).toBe(true);
    expect(error.message.slice(prefix.length)).not.toMatch(STOCK_PHRASES);
  }

  it.each(cases(BAD_SOURCE_OPTIONS))('fromKafka { %s: %o }', (option, value) => {
    expectExplained(
      configErrorOf(() => CONSTRUCTORS.fromKafka({ [option]: value })),
      option,
    );
  });

  it.each(cases(BAD_SINK_OPTIONS))('toKafka { %s: %o }', (option, value) => {
    expectExplained(
      configErrorOf(() => CONSTRUCTORS.toKafka({ [option]: value })),
      option,
    );
  });

  it.each(cases(BAD_ACKNOWLEDGE_OPTIONS))('acknowledge { %s: %o }', (option, value) => {
    expectExplained(
      configErrorOf(() => CONSTRUCTORS.acknowledge({ [option]: value })),
      option,
    );
  });

  it.each([
    ['fromKafka', (options: unknown) => fromKafka(options as never)],
    ['toKafka', (options: unknown) => toKafka(options as never)],
    ['acknowledge', (options: unknown) => acknowledge(options as never)],
  ] as const)('%s given options that are not an object', (_, create) => {
    expectExplained(
      configErrorOf(() => create('x')),
      'options',
    );
  });
});

describe('logger', () => {
  const logger = { info: noop, warn: noop, error: noop };

  it.each(Object.keys(CONSTRUCTORS) as (keyof typeof CONSTRUCTORS)[])(
    '%s refuses a logger without info, and takes one with info, warn and error',
    (constructor) => {
      const error = configErrorOf(() => CONSTRUCTORS[constructor]({ logger: LOGGER_WITHOUT_INFO }));
      expect(error.field).toBe('logger');
      expect(error.expected).toBe('a pino-compatible logger (with info, warn and error)');
      expect(() => CONSTRUCTORS[constructor]({ logger })).not.toThrow();
    },
  );
});

describe('acknowledge options', () => {
  it('refuses a misspelled option, as toKafka does', () => {
    const error = configErrorOf(() => acknowledge({ loger: console } as never));
    expect(error.field).toBe('loger');
    expect(error.expected).toContain('did you mean `logger`?');
    expect(configErrorOf(() => toKafka({ ...SINK, loger: console } as never)).expected).toContain(
      'did you mean `logger`?',
    );
  });

  it('checks deadLetterLog as toKafka does', () => {
    expect(configErrorOf(() => acknowledge({ deadLetterLog: { level: 'debug' } } as never)).field).toBe(
      'deadLetterLog.level',
    );
    expect(configErrorOf(() => acknowledge({ deadLetterLog: { maxPerSecnd: 5 } } as never)).expected).toContain(
      'did you mean `maxPerSecond`?',
    );
  });

  it('takes no options, or the documented ones; maxPerSecond may be Infinity (the default: every record)', () => {
    expect(() => acknowledge()).not.toThrow();
    expect(() => acknowledge(undefined)).not.toThrow();
    expect(() =>
      acknowledge({ logger: console, deadLetterLog: { level: 'warn', maxPerSecond: Infinity } }),
    ).not.toThrow();
    expect(() => acknowledge({ deadLetterLog: { maxPerSecond: 10 } })).not.toThrow();
  });

  it('accepts maxPerSecond: Infinity in toKafka too', () => {
    expect(() =>
      toKafka({ brokers: '127.0.0.1:9092', deadLetterTopic: false, deadLetterLog: { maxPerSecond: Infinity } }),
    ).not.toThrow();
  });
});
