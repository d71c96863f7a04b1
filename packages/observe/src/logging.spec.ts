import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createContext } from '@rxkafka/core';
import { recordLogger } from './logging.js';

describe('recordLogger', () => {
  it('binds topic, partition, offset, key and handler, and only what the redaction hook lets through', () => {
    const lines: Record<string, unknown>[] = [];
    const out = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
        done();
      },
    });
    const base = pino({ redact: { paths: ['record.email'], censor: '[redacted]' } }, out);
    const ctx = createContext({
      record: { id: 'o-1', card: '4111 1111 1111 1111', email: 'a@example.com' },
      source: {
        topic: 'orders',
        partition: 3,
        offset: 41,
        key: Buffer.from('c-7'),
        value: null,
        headers: [],
        timestamp: 0,
      },
      state: {},
    });
    recordLogger(base, ctx, { handler: 'enrich', redact: ({ card: _card, ...rest }) => rest }).info('enriching');
    expect(lines[0]).toMatchObject({
      topic: 'orders',
      partition: 3,
      offset: 41,
      key: 'c-7',
      handler: 'enrich',
      record: { id: 'o-1', email: '[redacted]' },
      msg: 'enriching',
    });
    expect(JSON.stringify(lines[0])).not.toContain('4111');
  });
});
