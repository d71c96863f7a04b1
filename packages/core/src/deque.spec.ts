import { describe, expect, it } from 'vitest';
import { Deque } from './deque.js';

describe('Deque', () => {
  it('starts empty and shift() on empty returns undefined', () => {
    const deque = new Deque<number>();
    expect(deque.length).toBe(0);
    expect(deque.shift()).toBeUndefined();
    expect(deque.length).toBe(0);
  });

  it('is FIFO and tracks length through interleaved push and shift', () => {
    const deque = new Deque<string>();
    deque.push('a');
    deque.push('b');
    expect(deque.length).toBe(2);
    expect(deque.shift()).toBe('a');
    deque.push('c');
    expect(deque.length).toBe(2);
    expect(deque.shift()).toBe('b');
    expect(deque.shift()).toBe('c');
    expect(deque.shift()).toBeUndefined();
    expect(deque.length).toBe(0);
    deque.push('d');
    expect(deque.shift()).toBe('d');
  });

  it('keeps FIFO order and length across compaction past 1024 items', () => {
    const deque = new Deque<number>();
    const total = 5_000;
    let pushed = 0;
    let expected = 0;
    // Push faster than we shift so the consumed prefix crosses 1024 several times with live items behind it.
    while (expected < total) {
      for (let i = 0; i < 3 && pushed < total; i++) deque.push(pushed++);
      expect(deque.length).toBe(pushed - expected);
      const item = deque.shift();
      expect(item).toBe(expected);
      expected++;
      if (pushed === total) {
        while (deque.length > 0) expect(deque.shift()).toBe(expected++);
      }
    }
    expect(expected).toBe(total);
    expect(deque.length).toBe(0);
    expect(deque.shift()).toBeUndefined();
  });

  it('compacts when drained exactly to 1024 and still accepts pushes afterwards', () => {
    const deque = new Deque<number>();
    for (let i = 0; i < 2_048; i++) deque.push(i);
    for (let i = 0; i < 1_024; i++) expect(deque.shift()).toBe(i);
    expect(deque.length).toBe(1_024);
    deque.push(2_048);
    for (let i = 1_024; i <= 2_048; i++) expect(deque.shift()).toBe(i);
    expect(deque.length).toBe(0);
  });

  it('stores undefined items, which shift() cannot tell apart from empty (use length)', () => {
    const deque = new Deque<number | undefined>();
    deque.push(undefined);
    deque.push(1);
    expect(deque.length).toBe(2);
    expect(deque.shift()).toBeUndefined();
    expect(deque.length).toBe(1);
    expect(deque.shift()).toBe(1);
  });
});
