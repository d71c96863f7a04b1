import { describe, expect, it } from 'vitest';
import { findUndelivered, type ProducedRecord } from './undelivered.js';

const produced = (id: string, overrides: Partial<ProducedRecord> = {}): ProducedRecord & { id: string } => ({
  id,
  topic: 'out',
  partition: null,
  key: 'k',
  value: Buffer.from(id),
  undelivered: false,
  ...overrides,
});
const report = (value: string | null, overrides: Partial<Parameters<typeof findUndelivered>[1]> = {}) => ({
  topic: 'out',
  partition: 1,
  key: Buffer.from('k'),
  value: value === null ? null : Buffer.from(value),
  ...overrides,
});

describe('findUndelivered', () => {
  it('names the record whose bytes failed, not an older one with the same key that was delivered', () => {
    const outstanding = [produced('a'), produced('b'), produced('c')];
    expect(findUndelivered(outstanding, report('b'))?.id).toBe('b');
  });

  it('takes the oldest of records with the same bytes, and each only once', () => {
    const first = produced('x');
    const second = produced('x');
    expect(findUndelivered([first, second], report('x'))).toBe(first);
    expect(findUndelivered([{ ...first, undelivered: true }, second], report('x'))).toBe(second);
  });

  it('matches the partition only for records produced to one, and the topic and key always', () => {
    expect(findUndelivered([produced('a', { partition: 2 })], report('a'))).toBeUndefined();
    expect(findUndelivered([produced('a', { partition: 1 })], report('a'))?.id).toBe('a');
    expect(findUndelivered([produced('a', { topic: 'other' })], report('a'))).toBeUndefined();
    expect(findUndelivered([produced('a', { key: Buffer.from('k2') })], report('a'))).toBeUndefined();
    expect(findUndelivered([produced('a', { key: null })], report('a'))).toBeUndefined();
  });

  it('tells null keys and tombstones from empty ones', () => {
    const tombstone = produced('t', { key: null, value: null });
    expect(findUndelivered([tombstone], report(null, { key: null }))).toBe(tombstone);
    expect(findUndelivered([tombstone], report('', { key: null }))).toBeUndefined();
    expect(findUndelivered([produced('e', { key: '' })], report('e', { key: null }))).toBeUndefined();
  });
});
